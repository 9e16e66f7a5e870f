"""The host gate's tests, importable into any repository's test module:

    from tinyml_harness.host_gate import test_variant, test_variant_on_target  # noqa: F401
    pytestmark = pytest.mark.host

Each variant is measured once on host TFLite Micro (accuracy, sizes, arena, bit-exactness:
the same whatever the target) and judged once, in test_variant. Latency is an estimate
from each target's cost model, labelled so, and is judged with the fits check and the
memory budgets per target, in test_variant_on_target. Each item fails with the figure,
the budget and the baseline in its message.
"""
from __future__ import annotations

from typing import Any

import pytest

from targets.measure.host import HostMeasurements
from tinyml_harness.build_fixtures import require_built
from vocabulary.records import ResultRecord


def _record(variant: str, target_profile, build_session, external_model_files,
            host_measurements: HostMeasurements) -> ResultRecord:
    built_variants = build_session.variants
    reference = host_measurements.measure(built_variants["float32"])
    if variant in external_model_files:
        measured = host_measurements.measure(external_model_files[variant], is_external=True)
        extra: dict[str, Any] = {"origin": str(external_model_files[variant].path)}
        deployable = True
        provenance = {**build_session.provenance("float32"), "architecture": "external", "architecture_hash": None,
                      "build_key": None, "training_platform": None}
    else:
        built = require_built(build_session, variant)
        measured = host_measurements.measure(built, int8_required=built.recipe.int8_io)
        extra = dict(origin="built", sparsity=built.metadata.get("sparsity", 0.0),
                     keras_accuracy=built.metadata.get("keras_accuracy"), cache_key=built.key[:16])
        deployable = built.deployable
        provenance = build_session.provenance(variant)
    record = host_measurements.record(measured, reference, target_profile, deployable=deployable, extra=extra)
    record.provenance = provenance
    return record


def test_variant(variant, target_profiles, build_session, external_model_files, host_measurements, result_sink):
    """Target-independent figures: accuracy, drops, sizes, arena, MACs; judged once."""
    any_target = next(iter(target_profiles.values()))
    record = _record(variant, any_target, build_session, external_model_files, host_measurements)
    gate = result_sink.submit(record, scope="variant")
    if not gate.ok:  # the gate's own message: figures, budgets, baseline; no traceback noise
        pytest.fail(gate.message, pytrace=False)


def test_variant_on_target(variant, target, target_profile, build_session, external_model_files,
                           host_measurements, result_sink):
    """Per target: latency estimate, fits, memory and latency budgets; the record is stored."""
    record = _record(variant, target_profile, build_session, external_model_files, host_measurements)
    gate = result_sink.submit(record, scope="target")
    if not gate.ok:  # the gate's own message: figures, budgets, baseline; no traceback noise
        pytest.fail(gate.message, pytrace=False)
