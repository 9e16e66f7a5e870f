"""One description of a model's input or output tensor, whoever reads it: the flatbuffer
(targets.tflm.analysis), host TFLite Micro (targets.tflm.runner), a board's upload_end reply
(targets.board), the virtual board that writes one.

Field names are the protocol's tensor keys (TMH_TENSOR_FIELD in
firmware/core/protocol_vocabulary.def), so `from_wire` / `to_wire` are the only translation,
and there is one spelling: dtype (numpy / TfLiteType name, lower case), nbytes.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TensorSpec:
    dtype: str               # "int8", "float32", ...
    shape: tuple[int, ...]
    scale: float             # 0.0 when not quantized
    zero_point: int
    nbytes: int
    name: str = field(default="", compare=False)  # a label when known (flatbuffer, TFLM); not on the wire

    #: the keys a board sends (everything but name)
    WIRE_FIELDS = ("dtype", "shape", "nbytes", "scale", "zero_point")

    @property
    def elements(self) -> int:
        return math.prod(self.shape) if self.shape else 1

    @classmethod
    def from_wire(cls, body: Mapping[str, Any]) -> TensorSpec:
        """A board's tensor description (upload_end "input" / "output")."""
        missing = [k for k in cls.WIRE_FIELDS if k not in body]
        if missing:
            raise ValueError(f"tensor description lacks {missing}: {dict(body)}")
        return cls(dtype=str(body["dtype"]), shape=tuple(int(d) for d in body["shape"]),
                   scale=float(body["scale"]), zero_point=int(body["zero_point"]),
                   nbytes=int(body["nbytes"]))

    def to_wire(self) -> dict[str, Any]:
        """The description as a board sends it, keys in wire order."""
        return {"dtype": self.dtype, "shape": list(self.shape), "nbytes": self.nbytes,
                "scale": self.scale, "zero_point": self.zero_point}
