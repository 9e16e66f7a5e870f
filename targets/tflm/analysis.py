"""What a .tflite contains, read from the flatbuffer alone (no interpreter, no TensorFlow).

Gives the op list (for the firmware's op check), MACs and per-op element counts (for the
latency estimator), parameter bytes, a naive activation-memory figure, the input/output
quantization, and whether TFLite Micro can run the model at all. Bad bytes raise one
`ModelFormatError` naming the model; the flatbuffer is bounds-checked here because the
Python flatbuffers reader does no verification of its own.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from targets.tflm.op_list import REGISTERED_OPS_FILE, missing_ops
from vocabulary.tensors import TensorSpec

_ITEM_BYTES = {
    "float32": 4, "float16": 2, "bfloat16": 2, "float64": 8, "int32": 4, "uint8": 1,
    "int64": 8, "bool": 1, "int16": 2, "complex64": 8, "int8": 1, "complex128": 16,
    "uint64": 8, "uint32": 4, "uint16": 2, "float8_e4m3fn": 1, "float8_e5m2": 1,
}
_PACKED_BITS = {"int4": 4, "uint4": 4, "int2": 2}
MAC_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV")
"""Ops whose cost is dominated by multiply-accumulates (the rest are charged per element)."""


class ModelFormatError(ValueError):
    """The bytes are not a usable TFLite model."""

    def __init__(self, name: str, why: str) -> None:
        super().__init__(f"{name}: not a valid TFLite model: {why}")
        self.name = name
        self.why = why


class NotInt8Error(ValueError):
    """An int8 deployment was required and the model computes in another type."""


class UnsupportedOpError(ValueError):
    """The model uses an op the firmware does not register."""

    def __init__(self, name: str, ops: list[str]) -> None:
        super().__init__(
            f"{name}: uses op(s) the firmware does not register: {', '.join(ops)} "
            "(firmware/main/registered_ops.txt)"
        )
        self.name = name
        self.ops = ops


@dataclass(frozen=True)
class OpInfo:
    index: int
    op: str
    macs: int
    dtype: str
    elements: int = 0
    """Largest activation tensor the op reads or writes (elements): what per-element costs scale with."""
    kernel: tuple[int, int] = (0, 0)
    """(k_h, k_w) of a convolution's filter; (0, 0) for other ops: 1x1 and kxk run different kernels."""
    channels: tuple[int, int] = (0, 0)
    """(input, output) channels of a conv / depthwise / fully connected op: esp-nn's vector paths need
    multiples of 8, and output / input of a depthwise op is its depth multiplier."""


@dataclass
class ModelAnalysis:
    ops: list[str]
    op_infos: list[OpInfo]
    macs: int
    param_bytes: int
    peak_activation_bytes: int
    input: TensorSpec
    output: TensorSpec
    deployable: bool
    notes: list[str]
    name: str = ""
    model_bytes: int = 0


@dataclass(frozen=True)
class _Graph:
    """The main subgraph's tensors, and which are constant (weights) or variable (state)."""

    tensors: list[TensorSpec]
    constant: list[bool]
    variable: list[bool]


def _schema():
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated

    return schema_py_generated


def _enum_names(enum_class: type) -> dict[int, str]:
    return {value: key for key, value in vars(enum_class).items() if not key.startswith("_")}


def _int_vector(as_numpy, length: int, what: str) -> list[int]:
    """A flatbuffer int vector, checked to lie inside the buffer (numpy slices silently short)."""
    if length == 0:
        return []
    values = as_numpy()
    if isinstance(values, int) or len(values) != length:
        raise ValueError(f"{what} runs past the end of the buffer")
    return [int(v) for v in values]


def _tensor_bytes(dtype: str, elements: int) -> int:
    if dtype in _PACKED_BITS:
        return (elements * _PACKED_BITS[dtype] + 7) // 8
    return elements * _ITEM_BYTES.get(dtype, 0)


def analyze_model(model_bytes: bytes, *, name: str) -> ModelAnalysis:
    """Parse and summarize a .tflite; raises ModelFormatError(name, why) for bad bytes."""
    data = bytes(model_bytes)
    if len(data) < 8:
        raise ModelFormatError(name, f"only {len(data)} bytes (truncated; a .tflite starts with an 8-byte header)")
    if data[4:8] != b"TFL3":
        raise ModelFormatError(name, f"file identifier is {data[4:8]!r}, expected b'TFL3' (not a TFLite flatbuffer)")
    (root,) = struct.unpack_from("<I", data, 0)
    if root + 4 > len(data):
        raise ModelFormatError(name, f"root table offset {root} is past the end of {len(data)} bytes (truncated)")
    try:
        return _analyze(data, name)
    except ModelFormatError:
        raise
    except (struct.error, IndexError, ValueError, TypeError, OverflowError, UnicodeDecodeError, MemoryError) as exc:
        cls = type(exc)
        kind = cls.__name__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__name__}"
        raise ModelFormatError(name, f"corrupt or truncated flatbuffer ({kind}: {exc})") from None


def _analyze(data: bytes, name: str) -> ModelAnalysis:
    schema = _schema()
    type_names = _enum_names(schema.TensorType)
    op_names = _enum_names(schema.BuiltinOperator)
    model = schema.Model.GetRootAsModel(data, 0)
    if model.Version() != 3:
        raise ModelFormatError(name, f"schema version {model.Version()}, expected 3 (not a TFLite model table)")
    if model.SubgraphsLength() == 0:
        raise ModelFormatError(name, "the model has no subgraph")
    notes: list[str] = []
    if model.SubgraphsLength() > 1:
        notes.append(f"{model.SubgraphsLength()} subgraphs; only the first (main) one is analysed")

    buffer_bytes = []
    for b in range(model.BuffersLength()):
        buffer = model.Buffers(b)
        if buffer.Offset() > 1:  # data stored after the flatbuffer (models > 2 GB)
            if buffer.Offset() + buffer.Size() > len(data):
                raise ModelFormatError(name, f"buffer {b} points past the end of the file (truncated)")
            buffer_bytes.append(int(buffer.Size()))
        else:
            length = buffer.DataLength()
            if length and len(buffer.DataAsNumpy()) != length:
                raise ModelFormatError(name, f"buffer {b} ({length} bytes) runs past the end of the file (truncated)")
            buffer_bytes.append(int(length))

    opcodes = []
    for c in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(c)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        op = op_names.get(builtin, f"BUILTIN_{builtin}")
        if op == "CUSTOM":
            op = f"CUSTOM:{(code.CustomCode() or b'').decode('utf-8', 'replace')}"
        opcodes.append(op)

    graph = model.Subgraphs(0)
    tensors: list[TensorSpec] = []
    constant: list[bool] = []
    variable: list[bool] = []
    for t in range(graph.TensorsLength()):
        tensor = graph.Tensors(t)
        dtype = type_names.get(tensor.Type(), f"type{tensor.Type()}").lower()
        shape = tuple(max(d, 1) for d in _int_vector(tensor.ShapeAsNumpy, tensor.ShapeLength(), f"tensor {t} shape"))
        if not 0 <= tensor.Buffer() < max(len(buffer_bytes), 1):
            raise ModelFormatError(name, f"tensor {t} refers to buffer {tensor.Buffer()} of {len(buffer_bytes)}")
        quant = tensor.Quantization()
        scale, zero_point = 0.0, 0
        if quant is not None and quant.ScaleLength():
            scale = float(quant.Scale(0))
            zero_point = int(quant.ZeroPoint(0)) if quant.ZeroPointLength() else 0
        elements = int(np.prod(shape, dtype=np.int64)) if shape else 1
        constant.append(bool(buffer_bytes) and tensor.Buffer() > 0 and buffer_bytes[tensor.Buffer()] > 0)
        variable.append(bool(tensor.IsVariable()))
        tensors.append(TensorSpec(dtype=dtype, shape=shape, scale=scale, zero_point=zero_point,
                                  nbytes=_tensor_bytes(dtype, elements),
                                  name=(tensor.Name() or b"").decode("utf-8", "replace")))
        if dtype not in _ITEM_BYTES and dtype not in _PACKED_BITS:
            notes.append(f"tensor {t} has type {dtype}, size not counted")

    def tensor_index(index: int, what: str) -> int:
        if not -1 <= index < len(tensors):
            raise ModelFormatError(name, f"{what} refers to tensor {index}, the subgraph has {len(tensors)}")
        return index

    graph_inputs = [tensor_index(i, "subgraph input")
                    for i in _int_vector(graph.InputsAsNumpy, graph.InputsLength(), "subgraph inputs")]
    graph_outputs = [tensor_index(i, "subgraph output")
                     for i in _int_vector(graph.OutputsAsNumpy, graph.OutputsLength(), "subgraph outputs")]
    if not graph_inputs or not graph_outputs:
        raise ModelFormatError(name, "the main subgraph declares no input or no output tensor")

    op_infos: list[OpInfo] = []
    op_io: list[tuple[list[int], list[int]]] = []
    hybrid_ops: list[str] = []
    for i in range(graph.OperatorsLength()):
        operator = graph.Operators(i)
        if not 0 <= operator.OpcodeIndex() < len(opcodes):
            raise ModelFormatError(name, f"operator {i} uses opcode {operator.OpcodeIndex()} of {len(opcodes)}")
        op = opcodes[operator.OpcodeIndex()]
        ins = [tensor_index(t, f"operator {i} ({op}) input")
               for t in _int_vector(operator.InputsAsNumpy, operator.InputsLength(), f"operator {i} inputs")]
        outs = [tensor_index(t, f"operator {i} ({op}) output")
                for t in _int_vector(operator.OutputsAsNumpy, operator.OutputsLength(), f"operator {i} outputs")]
        ins = [t for t in ins if t >= 0]
        outs = [t for t in outs if t >= 0]
        op_io.append((ins, outs))
        activations = [tensors[t] for t in ins if not constant[t]]
        dtype = activations[0].dtype if activations else tensors[outs[0]].dtype if outs else "unknown"
        elements = max([t.elements for t in activations] + [tensors[t].elements for t in outs] + [0])
        macs = _macs(op, [tensors[t] for t in ins], [tensors[t] for t in outs])
        if (op in MAC_OPS and dtype in ("float32", "float16")
                and _weights(op, ins, tensors) in ("int8", "uint8", "int4")):
            hybrid_ops.append(f"{op} #{i}")
        kernel, channels = _mac_shape(op, [tensors[t] for t in ins], [tensors[t] for t in outs])
        op_infos.append(OpInfo(index=i, op=op, macs=macs, dtype=dtype, elements=elements,
                               kernel=kernel, channels=channels))

    deployable = True
    if hybrid_ops:
        deployable = False
        notes.append(
            "dynamic-range (hybrid) quantization: float activations with int8 weights in "
            f"{', '.join(hybrid_ops)}; TFLite Micro does not run hybrid kernels"
        )
    ops = list(dict.fromkeys(info.op for info in op_infos))
    return ModelAnalysis(
        ops=ops,
        op_infos=op_infos,
        macs=sum(info.macs for info in op_infos),
        param_bytes=sum(buffer_bytes),
        peak_activation_bytes=_peak_activation_bytes(_Graph(tensors, constant, variable), op_io,
                                                     graph_inputs, graph_outputs),
        input=tensors[graph_inputs[0]],
        output=tensors[graph_outputs[0]],
        deployable=deployable,
        notes=notes,
        name=name,
        model_bytes=len(data),
    )


def _weights(op: str, ins: list[int], tensors: list[TensorSpec]) -> str | None:
    # CONV_2D / DEPTHWISE / FULLY_CONNECTED: (input, weights, bias); TRANSPOSE_CONV: (shape, weights, input)
    position = 1
    return tensors[ins[position]].dtype if len(ins) > position else None


def _macs(op: str, ins: list[TensorSpec], outs: list[TensorSpec]) -> int:
    """Multiply-accumulates for one invoke, from the weight and output shapes."""
    if not outs or len(ins) < 2:
        return 0
    out_elements = outs[0].elements
    weights = ins[1].shape
    if op == "CONV_2D" and len(weights) == 4:  # [out_c, k_h, k_w, in_c / groups]
        return out_elements * weights[1] * weights[2] * weights[3]
    if op == "DEPTHWISE_CONV_2D" and len(weights) == 4:  # [1, k_h, k_w, out_c]
        return out_elements * weights[1] * weights[2]
    if op == "FULLY_CONNECTED" and len(weights) == 2:  # [units, in]
        return out_elements * weights[1]
    # TRANSPOSE_CONV: every input pixel scatters a k_h x k_w x out_c patch
    if op == "TRANSPOSE_CONV" and len(weights) == 4 and len(ins) >= 3:
        return ins[2].elements * weights[0] * weights[1] * weights[2]
    return 0


def _mac_shape(op: str, ins: list[TensorSpec], outs: list[TensorSpec]) -> tuple[tuple[int, int], tuple[int, int]]:
    """(k_h, k_w) and (input, output) channels of a MAC op, from its tensors; zeros otherwise."""
    if op not in MAC_OPS or not outs or len(ins) < 2:
        return (0, 0), (0, 0)
    weights, out_channels = ins[1].shape, outs[0].shape[-1] if outs[0].shape else 0
    if op == "FULLY_CONNECTED" and len(weights) == 2:
        return (0, 0), (weights[1], weights[0])
    if len(weights) != 4:
        return (0, 0), (0, 0)
    if op == "TRANSPOSE_CONV" and len(ins) >= 3:
        return (weights[1], weights[2]), (weights[3], out_channels)
    in_channels = ins[0].shape[-1] if ins[0].shape else 0
    return (weights[1], weights[2]), (in_channels, out_channels)


def _peak_activation_bytes(
    graph: _Graph,
    op_io: list[tuple[list[int], list[int]]],
    graph_inputs: list[int],
    graph_outputs: list[int],
) -> int:
    """Largest sum of live non-constant tensors at any op, with no buffer sharing or in-place
    reuse (an upper-bound style estimate, not TFLM's planner and not the arena figure)."""
    last = len(op_io)
    first_use: dict[int, int] = {t: -1 for t in graph_inputs}
    last_use: dict[int, int] = {t: last for t in graph_outputs}
    for i, (ins, outs) in enumerate(op_io):
        for t in outs:
            first_use.setdefault(t, i)
        for t in ins + outs:
            first_use.setdefault(t, i)
            last_use[t] = max(last_use.get(t, i), i)
    live = {t for t in first_use if not graph.constant[t]}
    peak = 0
    for i in range(len(op_io)):
        total = sum(
            graph.tensors[t].nbytes for t in live
            if graph.variable[t] or first_use[t] <= i <= last_use.get(t, first_use[t])
        )
        peak = max(peak, total)
    if not op_io:
        peak = sum(graph.tensors[t].nbytes for t in live)
    return peak


def check_firmware_ops(analysis: ModelAnalysis, ops_file: Path = REGISTERED_OPS_FILE) -> list[str]:
    """Ops the model uses that the firmware's ops file lacks, in model order (default:
    firmware/main/registered_ops.txt; a lean build's file when the firmware was built with one)."""
    return missing_ops(analysis.ops, ops_file)


def require_firmware_ops(analysis: ModelAnalysis, name: str, ops_file: Path = REGISTERED_OPS_FILE) -> None:
    missing = check_firmware_ops(analysis, ops_file)
    if missing:
        raise UnsupportedOpError(name, missing)


def require_int8(analysis: ModelAnalysis, name: str) -> None:
    """Raise NotInt8Error unless input, output and every MAC op compute in int8."""
    problems = []
    if analysis.input.dtype != "int8":
        problems.append(f"input tensor is {analysis.input.dtype}")
    if analysis.output.dtype != "int8":
        problems.append(f"output tensor is {analysis.output.dtype}")
    float_ops = [f"{info.op} #{info.index} ({info.dtype})"
                 for info in analysis.op_infos if info.op in MAC_OPS and info.dtype != "int8"]
    if float_ops:
        problems.append("ops not in int8: " + ", ".join(float_ops))
    if problems:
        raise NotInt8Error(f"{name}: an int8 model is required, but {'; '.join(problems)}")
