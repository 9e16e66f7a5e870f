"""Espressif's published measurements, quoted with the table rows they come from.

Two kinds: esp-nn's kernel-wise tables (ticks of one kernel call, ANSI C and optimised,
ESP32-S3 and ESP32-P4; README "Kernelwise performance for s8 versions") give each kernel
kind's cycles per unit of work; the model-level tables (invoke() times of whole models
with and without esp-nn; esp-tflite-micro README "Performance Comparison", esp-nn README
"Model-level performance") fix each target's scale and check the estimate. Sources read
at esp-nn d45b843 and esp-tflite-micro 99f49e1 (GitHub, espressif/).
"""
from __future__ import annotations

from dataclasses import dataclass

ESP_NN_KERNELS = "esp-nn README, Kernelwise performance for s8 versions"
ESP_NN_MODELS = "esp-nn README, Model-level performance"
ESP_TFLM_MODELS = "esp-tflite-micro README, Performance Comparison"


@dataclass(frozen=True)
class KernelRow:
    """One row of a kernel-wise table: ticks of one call, and the work the estimator charges."""

    chip: str  # the table's chip, as ESP-IDF names the target
    function: str
    data_info: str
    ansi_c_ticks: int
    optimized_ticks: int
    work: int  # MACs (conv, depthwise, fully connected) or elements, computed from data_info
    work_unit: str

    def cycles_per_unit(self, optimized: bool) -> float:
        return (self.optimized_ticks if optimized else self.ansi_c_ticks) / self.work

    def quote(self) -> str:
        chip = {"esp32s3": "ESP32-S3", "esp32p4": "ESP32-P4"}[self.chip]
        return (f"{ESP_NN_KERNELS}, {chip} table, row '{self.function} | {self.data_info}': "
                f"ANSI C {self.ansi_c_ticks} / Optimized {self.optimized_ticks} ticks "
                f"for {self.work} {self.work_unit}")


@dataclass(frozen=True)
class ModelFigure:
    """One published invoke() time of a whole model."""

    model: str  # a key of targets.cost.published_models.MODELS
    target: str
    config: str  # the firmware config it corresponds to: default (esp-nn on) or esp_nn_off
    ms: float
    clock_mhz: int
    source: str

    @property
    def name(self) -> str:
        return f"{self.model} on {self.target} ({self.config})"


# Work from each row's data info: a conv's output is ((in - k + 2 pad) / stride + 1)^2 x out_ch
# pixels, each with k x k x in_ch MACs; a depthwise's k x k per output value.
KERNEL_ROWS = (
    KernelRow("esp32s3", "convolution", "input(10,10), filter(64x1x1x64), pad(0,0), stride(1,1)",
              4712500, 331008, 10 * 10 * 64 * 64, "MACs"),
    KernelRow("esp32s3", "convolution", "input(8,8), filter(64x3x3x3), pad(0,0), stride(1,1)",
              2193289, 394842, 6 * 6 * 64 * 3 * 3 * 3, "MACs"),
    KernelRow("esp32s3", "depthwise conv", "input(18,18), pad(0,0), stride(1,1), filter: 1x3x3x16",
              1159831, 184176, 16 * 16 * 16 * 3 * 3, "MACs"),
    KernelRow("esp32s3", "fully connected", "len: 271, ch = 3", 8443, 1078, 271 * 3, "MACs"),
    KernelRow("esp32s3", "elementwise_add", "size = 1615", 281337, 74440, 1615, "elements"),
    KernelRow("esp32s3", "avg pool", "input(16,16), filter(1x3x3x16)", 427293, 118052, 16 * 16 * 16,
              "input elements"),
    KernelRow("esp32p4", "convolution", "input(10,10), filter(64x1x1x64), pad(0,0), stride(1,1)",
              4005512, 572459, 10 * 10 * 64 * 64, "MACs"),
    KernelRow("esp32p4", "convolution", "input(10,10), filter(64x3x3x3), pad(0,0), stride(1,1)",
              816975, 533318, 8 * 8 * 64 * 3 * 3 * 3, "MACs"),
    KernelRow("esp32p4", "depthwise conv", "input (16, 16), pad(0,0), stride(1,1) filter: 1x3x3x16",
              962834, 482389, 14 * 14 * 16 * 3 * 3, "MACs"),
    KernelRow("esp32p4", "fully connected", "len: 271, ch = 3", 7650, 915, 271 * 3, "MACs"),
    KernelRow("esp32p4", "elementwise_add", "size = 1615", 190786, 88451, 1615, "elements"),
    KernelRow("esp32p4", "hard_swish", "size: 12544", 703970, 516582, 12544, "elements"),
)

#: Which row gives each cost kind its relative rate (the estimator's kinds, registry.KINDS).
ROW_OF_KIND = {
    "conv_1x1": ("convolution", "filter(64x1x1x64)"),
    "conv": ("convolution", "filter(64x3x3x3)"),
    "depthwise_conv": ("depthwise conv", "1x3x3x16"),
    "fully_connected": ("fully connected", "len: 271"),
    "elementwise": ("elementwise_add", "size = 1615"),
    "per_element": None,  # per chip below: the table's only large per-element kernel
}
PER_ELEMENT_ROW = {"esp32s3": ("avg pool", "input(16,16)"), "esp32p4": ("hard_swish", "size: 12544")}

_PD_ESP_TFLM = f"{ESP_TFLM_MODELS}, row '{{chip}} | Person Detection | {{off}} | {{on}} | {{mhz}}MHz'"
_MNV3 = f"{ESP_NN_MODELS}, MobileNetV3 Small table, row '{{chip}} | {{mhz}}MHz | {{off}} | {{on}}'"


def _person_detection(target: str, chip: str, mhz: int, off: int, on: int) -> tuple[ModelFigure, ...]:
    quote = _PD_ESP_TFLM.format(chip=chip, off=f"{off}ms", on=f"{on}ms", mhz=mhz)
    also = f" (also {ESP_NN_MODELS}, Person Detection table)"
    return (ModelFigure("person_detection", target, "default", on, mhz, quote + ", with ESP-NN" + also),
            ModelFigure("person_detection", target, "esp_nn_off", off, mhz, quote + ", without ESP-NN" + also))


def _mobilenet_v3(target: str, chip: str, mhz: int, off: int, on: int) -> tuple[ModelFigure, ...]:
    quote = _MNV3.format(chip=chip, off=f"{off}ms", on=f"{on}ms", mhz=mhz)
    note = "; the README's note: SPIRAM used for TensorArena"
    return (ModelFigure("mobilenet_v3_small_224", target, "default", on, mhz, quote + ", with ESP-NN" + note),
            ModelFigure("mobilenet_v3_small_224", target, "esp_nn_off", off, mhz, quote + ", without ESP-NN" + note))


MODEL_FIGURES = (
    *_person_detection("esp32p4", "ESP32-P4", 360, 1395, 73),
    *_person_detection("esp32s3", "ESP32-S3", 240, 2300, 54),
    *_person_detection("esp32", "ESP32", 240, 4084, 380),
    *_person_detection("esp32c3", "ESP32-C3", 160, 3355, 426),
    *_mobilenet_v3("esp32s3", "ESP32-S3", 240, 26000, 1434),
    *_mobilenet_v3("esp32p4", "ESP32-P4", 360, 11600, 1050),
)

#: Figures left out of the fit: the estimate is checked on them, not tuned to them.
HELD_OUT_MODELS = ("mobilenet_v3_small_224",)


def kernel_row(chip: str, function: str, data_info_part: str) -> KernelRow:
    matches = [r for r in KERNEL_ROWS if r.chip == chip and r.function == function
               and data_info_part in r.data_info]
    if len(matches) != 1:
        raise LookupError(f"{chip}: {len(matches)} kernel rows match {function!r} / {data_info_part!r}")
    return matches[0]


def rate_row(chip: str, kind: str) -> KernelRow:
    """The kernel-wise row whose ticks give `kind` its cycles per unit of work on `chip`."""
    found = ROW_OF_KIND[kind] or PER_ELEMENT_ROW[chip]
    return kernel_row(chip, *found)
