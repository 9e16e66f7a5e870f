"""The regression gate on the host: every variant x every target, measured on host TFLite Micro.

Accuracy, arena and bit-exactness are measured (TFLM on the host, 64-bit, reference
kernels); latency is an estimate from each target's cost model and labelled so. Each
item fails with the figure, the budget and the baseline in its message.
"""
from __future__ import annotations

import pytest

from targets.host_measure import HostMeasurements

pytestmark = pytest.mark.host


@pytest.fixture(scope="session")
def host_measurements(prepared_data, pytestconfig) -> HostMeasurements:
    return HostMeasurements(prepared_data.x_test, prepared_data.y_test,
                            dataset_is_explicit=bool(pytestconfig.getoption("dataset")))


def test_variant_on_target(variant, target, target_profile, built_variants, built_variant, external_model_files,
                           host_measurements, result_sink):
    reference = host_measurements.measure(built_variants["float32"])
    extra = {}
    if variant in external_model_files:
        measured = host_measurements.measure(external_model_files[variant], is_external=True)
        extra["origin"] = str(external_model_files[variant].path)
        deployable = True
    else:
        built = built_variant(variant)  # fails this item, naming the recipe's error, if it was not built
        measured = host_measurements.measure(built, int8_required=built.recipe.int8_io)
        extra.update(origin="built", sparsity=built.metadata.get("sparsity", 0.0),
                     keras_accuracy=built.metadata.get("keras_accuracy"), cache_key=built.key[:16])
        deployable = built.deployable
    record = host_measurements.record(measured, reference, target_profile, deployable=deployable, extra=extra)
    gate = result_sink.submit(record)
    assert gate.ok, gate.message
