"""Fault recovery through the whole pytest-embedded path (dut -> DutLink -> ProtocolClient ->
Board), on the virtual board under --virtual: faults are armed in the running board, and
each faulted cycle must give exactly the results of a clean cycle on the same board.
(tests_host/test_board_faults.py covers the same faults, and the unrecoverable ones, over a
plain SerialLink in every `pytest` run.) On real boards faults cannot be injected: skipped.
"""
from __future__ import annotations

import pytest

from targets.board.recovering_client import Board, run_cycle

pytestmark = [pytest.mark.hil, pytest.mark.generic]

SAMPLES = 32


@pytest.fixture
def int8_model(built_variants) -> tuple[str, bytes]:
    for name, built in built_variants.items():
        if built.recipe.deployable and built.recipe.int8_io:
            return name, built.tflite_bytes
    pytest.skip("no deployable int8 variant selected (--variants)")


@pytest.mark.parametrize("faults", [
    ["noise"], ["corrupt-chunk@2"], ["drop-chunk@3"], ["reset-upload@4"], ["reset-eval@9"],
    ["hang-eval@5"],
], ids=lambda f: "+".join(f))
def test_recovery_through_pytest_embedded(faults, hil_board: Board, hil_state, int8_model,
                                          prepared_data):
    if not hil_state.virtual:
        pytest.skip("fault injection needs the virtual board (--virtual)")
    if hil_state.virtual_engine != "python":
        pytest.skip("faults are armed in the Python virtual board only (--virtual-engine=python); "
                    "the firmware binary's recovery is tested in tests_host (fw_host fault options)")
    from targets.tflm.analysis import analyze_model
    from targets.tflm.runner import quantize_input

    name, model = int8_model
    analysis = analyze_model(model, name=name)
    inputs = quantize_input(prepared_data.x_test[:SAMPLES], analysis.input)
    samples = [row.tobytes() for row in inputs]
    target = hil_board.banner["target"]
    hil_board.client.timeout_scale = 1.0  # the model's worker is warm: timeouts can be tight

    clean = run_cycle(hil_board, model, name=name, samples=samples, runs=10, warmup=1)
    assert hil_board.events == []
    hil_state.virtual_board(target).arm(faults)
    faulted = run_cycle(hil_board, model, name=name, samples=samples, runs=10, warmup=1)

    assert faulted.evaluation.outputs == clean.evaluation.outputs
    assert faulted.upload.arena_used_bytes == clean.upload.arena_used_bytes
    assert faulted.timing == clean.timing and faulted.profile == clean.profile
    expected = {"noise": [], "corrupt-chunk": ["transport"], "drop-chunk": [],
                "reset-upload": ["reset"], "reset-eval": ["reset"], "hang-eval": ["hang"]}
    assert [e.kind for e in hil_board.events] == expected[faults[0].split("@")[0]]
