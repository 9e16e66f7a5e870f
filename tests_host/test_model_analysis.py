"""Flatbuffer analysis: ops, MACs, sizes, deployability, and one clear error per bad input."""
from __future__ import annotations

import pytest

from targets.tflm.analysis import (
    ModelFormatError,
    NotInt8Error,
    UnsupportedOpError,
    analyze_model,
    check_firmware_ops,
    require_firmware_ops,
    require_int8,
)
from targets.tflm.op_list import registered_ops
from tests_host import tiny_models


@pytest.fixture(scope="module")
def int8_analysis():
    return analyze_model(tiny_models.gesture_cnn("int8"), name="gesture-int8")


def test_gesture_macs_match_the_hand_count(int8_analysis):
    assert int8_analysis.macs == tiny_models.GESTURE_MACS == 53_632
    by_op = [(info.op, info.macs) for info in int8_analysis.op_infos if info.macs]
    assert by_op == [
        ("CONV_2D", 46 * 16 * 5 * 3),
        ("CONV_2D", 21 * 32 * 3 * 16),
        ("FULLY_CONNECTED", 320 * 32),
        ("FULLY_CONNECTED", 32 * 3),
    ]


def test_non_mac_ops_carry_element_counts(int8_analysis):
    pools = [info for info in int8_analysis.op_infos if info.op == "MAX_POOL_2D"]
    assert [p.elements for p in pools] == [46 * 16, 21 * 32]  # input read by each pooling op
    assert all(info.macs == 0 and info.elements > 0
               for info in int8_analysis.op_infos if info.op not in ("CONV_2D", "FULLY_CONNECTED"))
    assert [info.index for info in int8_analysis.op_infos] == list(range(len(int8_analysis.op_infos)))


def test_ops_are_unique_in_first_use_order(int8_analysis):
    assert int8_analysis.ops[:2] == ["EXPAND_DIMS", "CONV_2D"]
    assert len(int8_analysis.ops) == len(set(int8_analysis.ops))
    assert {"CONV_2D", "MAX_POOL_2D", "FULLY_CONNECTED", "SOFTMAX"} <= set(int8_analysis.ops)


def test_sizes_and_quantization_of_int8_model(int8_analysis):
    weights = 5 * 3 * 16 + 3 * 16 * 32 + 320 * 32 + 32 * 3  # int8 weights, biases are int32 on top
    assert weights < int8_analysis.param_bytes < len(tiny_models.gesture_cnn("int8"))
    # largest live pair: conv1's 46x16 int8 output and its reshaped copy
    assert int8_analysis.peak_activation_bytes == 2 * 46 * 16
    assert int8_analysis.input.dtype == "int8" and int8_analysis.input.shape == (1, 50, 3)
    assert int8_analysis.input.scale > 0 and -128 <= int8_analysis.input.zero_point <= 127
    assert int8_analysis.output.shape == (1, 3) and int8_analysis.output.nbytes == 3
    assert int8_analysis.deployable and int8_analysis.notes == []
    assert {info.dtype for info in int8_analysis.op_infos} == {"int8"}


def test_float_model_is_four_times_the_activation_bytes(int8_analysis):
    analysis = analyze_model(tiny_models.gesture_cnn("float32"), name="gesture-f32")
    assert analysis.macs == int8_analysis.macs
    assert analysis.peak_activation_bytes == 4 * int8_analysis.peak_activation_bytes
    assert analysis.input.dtype == "float32" and analysis.input.scale == 0.0


def test_dynamic_range_model_is_not_deployable_and_says_why():
    analysis = analyze_model(tiny_models.gesture_cnn("dynamic"), name="gesture-dr")
    assert analysis.deployable is False
    assert any("dynamic-range" in note and "FULLY_CONNECTED" in note for note in analysis.notes)


def test_require_int8_names_the_model_and_the_float_parts(int8_analysis):
    require_int8(int8_analysis, "gesture-int8")  # passes
    analysis = analyze_model(tiny_models.gesture_cnn("float32"), name="gesture-f32")
    with pytest.raises(NotInt8Error, match=r"gesture-f32: an int8 model is required, but input tensor is float32"
                                            r".*CONV_2D #1 \(float32\)"):
        require_int8(analysis, "gesture-f32")


def test_op_the_firmware_lacks_is_named():
    assert "GELU" not in registered_ops()
    analysis = analyze_model(tiny_models.gelu_dense("int8"), name="gelu-dense")
    assert check_firmware_ops(analysis) == ["GELU"]
    with pytest.raises(UnsupportedOpError, match=r"gelu-dense: .*GELU") as info:
        require_firmware_ops(analysis, "gelu-dense")
    assert info.value.ops == ["GELU"]


def test_gesture_model_needs_no_missing_op(int8_analysis):
    assert check_firmware_ops(int8_analysis) == []


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (lambda: tiny_models.truncated(tiny_models.gesture_cnn("int8")), "truncated"),
        (lambda: tiny_models.gesture_cnn("int8")[:6], "truncated"),
        (lambda: tiny_models.random_bytes(), "file identifier"),
        (lambda: tiny_models.flatbuffer_not_a_model(), r"file identifier is b'NOPE'"),
        (lambda: tiny_models.flatbuffer_not_a_model(b"TFL3"), "schema version"),
        (lambda: tiny_models.without_subgraphs(tiny_models.gesture_cnn("int8")), "no subgraph"),
        (lambda: tiny_models.with_bad_tensor_index(tiny_models.gesture_cnn("int8")), "refers to tensor 9999"),
        (lambda: b"", "only 0 bytes"),
    ],
    ids=["half", "header-only", "random", "other-flatbuffer", "tfl3-other-table", "no-subgraph", "bad-tensor-index",
         "empty"],
)
def test_bad_bytes_give_one_model_format_error(make, why):
    with pytest.raises(ModelFormatError, match=why) as info:
        analyze_model(make(), name="bad-variant")
    assert str(info.value).startswith("bad-variant: not a valid TFLite model: ")
    assert isinstance(info.value, ValueError)


def test_repacked_model_analyses_the_same(int8_analysis):
    # control for the corruption helpers: unpack + pack alone changes nothing we read
    again = analyze_model(tiny_models.repacked(tiny_models.gesture_cnn("int8")), name="repacked")
    assert (again.ops, again.macs, again.input, again.output) == (
        int8_analysis.ops, int8_analysis.macs, int8_analysis.input, int8_analysis.output)
