"""Fit the int8 cost coefficients to Espressif's published figures, and check them.

The model, per target and firmware config (default: esp-nn on; esp_nn_off):

    coefficient(kind) = ticks per unit of work of that kind's kernel-wise row
                        x a scale fitted to the target's published model-level figures

Relative rates come from esp-nn's kernel-wise tables: the target's own table where
Espressif publishes one (ESP32-S3, ESP32-P4: the Optimized column for `default`, ANSI C
for `esp_nn_off`), otherwise the geometric mean of both tables' ANSI C columns (ESP32,
ESP32-C3: esp-nn gives them generic C optimisations only; the same C code differs up to
4.8x per MAC between the two tables, measured with operands in external RAM of different
speeds, so neither table alone stands for a third chip). Two scales per target and config, fitted by non-negative
least squares on relative error: one for the MAC kernels (conv, depthwise, fully
connected), one for the element kernels (element-wise arithmetic, pooling, activations).
Person detection is nearly all MACs, so it fixes the first scale; MobileNetV3-Small's
hard-swish / squeeze-excite ops then fix the second. A target with one published figure
(ESP32, ESP32-C3) gets the MAC scale from it and the element scale in the ratio fitted
for the chip whose table it borrows (RATIO_FROM). So every published figure is used and
the fit is exact by construction; what the estimator is worth is the leave-one-out check:
each ESP32-S3 / ESP32-P4 figure predicted by the one-figure procedure from the other
figure of its target (the element ratio then from the other table chip), which sets the
expected error every estimate carries.

    python -m targets.cost.published_fit            # the validation table
    python -m targets.cost.published_fit --write    # rewrite targets.toml's int8 lines and docs/LATENCY.md
"""
from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from targets.cost import espressif_figures as published
from targets.cost.estimator import cost_kind, cost_work, estimate_latency
from targets.cost.published_models import PublishedModel, load
from targets.cost.registry import (
    DEFAULT_CONFIG,
    DEFAULT_TARGETS_FILE,
    Coefficient,
    TargetProfile,
    load_targets,
    write_coefficients,
)

MAC_KINDS = ("conv_1x1", "conv", "depthwise_conv", "fully_connected")
ELEMENT_KINDS = ("elementwise", "per_element")
#: Whose kernel-wise tables give a target its relative rates (several: their geometric mean).
RATE_TABLE = {"esp32s3": ("esp32s3",), "esp32p4": ("esp32p4",),
              "esp32": ("esp32s3", "esp32p4"), "esp32c3": ("esp32s3", "esp32p4")}
#: Whose element / MAC scale ratio a fit with one figure takes: the chip whose table it borrows,
#: and for the two table chips each other (same firmware config).
RATIO_FROM = {"esp32s3": "esp32p4", "esp32p4": "esp32s3", "esp32": "esp32s3", "esp32c3": "esp32p4"}
CONFIGS = (DEFAULT_CONFIG, "esp_nn_off")
#: Targets without a published figure that take another's fitted coefficients (same core class).
COPIED_FROM = {"esp32c6": "esp32c3"}
#: Targets with a single-precision FPU: TFLite Micro's float32 kernels are its reference C (no
#: esp-nn float path), the same loops as the reference int8 kernels Espressif's "without
#: ESP-NN" figures time, so float32 is charged at the esp_nn_off int8 rates. Espressif publishes
#: no float figure; targets without an FPU (soft-float) keep their hand estimates.
FPU_TARGETS = ("esp32", "esp32s3", "esp32p4")
#: Targets without an FPU: float32 runs the same reference loops with libgcc's soft-float
#: __mulsf3 + __addsf3 per MAC; these cycles (hand estimates, tens of cycles per call) are
#: added to the esp_nn_off int8 rate.
SOFT_FLOAT_EXTRA = {"conv": 80, "conv_1x1": 80, "depthwise_conv": 85, "fully_connected": 75,
                    "elementwise": 40, "per_element": 40}


def optimized_column(target: str, config: str) -> bool:
    """The Optimized column applies only to a chip's own table with esp-nn on."""
    return config == DEFAULT_CONFIG and RATE_TABLE[target] == (target,)


def base_rates(target: str, config: str) -> dict[str, tuple[float, tuple[published.KernelRow, ...]]]:
    """kind -> (cycles per unit of work, the kernel-wise rows it comes from)."""
    optimized = optimized_column(target, config)
    out = {}
    for kind in (*MAC_KINDS, *ELEMENT_KINDS):
        rows = tuple(published.rate_row(chip, kind) for chip in RATE_TABLE[target])
        rate = float(np.exp(np.mean([np.log(row.cycles_per_unit(optimized)) for row in rows])))
        out[kind] = (rate, rows)
    return out


@dataclass(frozen=True)
class PublishedFit:
    """A target/config's two cost scales fitted to Espressif's published figures
    (calibrate.CalibrationFit is the fit to a bench's measured profiles)."""

    target: str
    config: str
    mac_scale: float
    element_scale: float
    figures: tuple[published.ModelFigure, ...]
    how: str

    def coefficient(self, kind: str) -> float:
        rate, _ = base_rates(self.target, self.config)[kind]
        return rate * (self.mac_scale if kind in MAC_KINDS else self.element_scale)


def _work_cycles(model: PublishedModel, target: str, config: str) -> tuple[float, float]:
    """Cycles at the unscaled table rates: (MAC kernels, element kernels)."""
    rates = base_rates(target, config)
    mac = element = 0.0
    for info in model.op_infos:
        kind = cost_kind(info)
        cycles = cost_work(info) * rates[kind][0]
        if kind in MAC_KINDS:
            mac += cycles
        else:
            element += cycles
    return mac, element


def fit(target: str, config: str, figures: Sequence[published.ModelFigure], models: dict[str, PublishedModel],
        profile: TargetProfile, element_ratio: float = 1.0) -> PublishedFit:
    """NNLS for the two scales (one figure: one scale, element = mac x element_ratio)."""
    from scipy.optimize import nnls

    overhead = profile.cost_for(config).per_op_overhead_cycles.value
    rows = []
    for figure in figures:
        model = models[figure.model]
        wanted = figure.ms * 1000 * figure.clock_mhz - overhead * len(model.op_infos)
        mac, element = _work_cycles(model, target, config)
        rows.append((mac / wanted, element / wanted))
    names = " and ".join(f.model for f in figures)
    if len(figures) >= 2:
        (mac_scale, element_scale), _ = nnls(np.array(rows), np.ones(len(rows)))
        return PublishedFit(target, config, float(mac_scale), float(element_scale), tuple(figures),
                   f"NNLS, two scales, on {names}")
    if len(figures) != 1:
        raise ValueError(f"{target} ({config}): no published figure to fit")
    mac, element = rows[0]
    (scale,), _ = nnls(np.array([[mac + element * element_ratio]]), np.ones(1))
    how = (f"one scale on {names}; element scale {element_ratio:.3g}x it, as fitted on "
           f"{RATIO_FROM[target]}" if element_ratio != 1.0 else f"one scale on {names}")
    return PublishedFit(target, config, float(scale), float(scale * element_ratio), tuple(figures), how)


def figures_of(target: str, config: str) -> list[published.ModelFigure]:
    return [f for f in published.MODEL_FIGURES if f.target == target and f.config == config]


def fit_all(profiles: dict[str, TargetProfile], models: dict[str, PublishedModel],
            leave_out: published.ModelFigure | None = None) -> dict[tuple[str, str], PublishedFit]:
    """Every (target, config) with published figures; those with two figures first (the others
    borrow their element / MAC ratio, RATIO_FROM)."""
    fits: dict[tuple[str, str], PublishedFit] = {}
    for config in CONFIGS:
        figures = {t: [f for f in figures_of(t, config) if f != leave_out] for t in RATE_TABLE}
        for target in sorted(RATE_TABLE, key=lambda t: (-len(figures[t]), len(RATE_TABLE[t]))):
            if not figures[target]:
                continue
            lender = fits.get((RATIO_FROM[target], config))
            ratio = lender.element_scale / lender.mac_scale if lender and lender.mac_scale else 1.0
            fits[(target, config)] = fit(target, config, figures[target], models, profiles[target], ratio)
    return fits


def coefficient_lines(fit_: PublishedFit) -> dict[str, Coefficient]:
    """int8 coefficients as write_coefficients takes them, each naming its table row and fit."""
    out = {}
    for kind, (rate, rows) in base_rates(fit_.target, fit_.config).items():
        column = "Optimized" if optimized_column(fit_.target, fit_.config) else "ANSI C"
        scale = fit_.mac_scale if kind in MAC_KINDS else fit_.element_scale
        mean = " (geometric mean of the two tables: no table for this chip)" if len(rows) > 1 else ""
        source = (f"{'; '.join(row.quote() for row in rows)}; {column} column{mean}: {rate:.4g} cycles per "
                  f"{rows[0].work_unit.split()[-1][:-1]}"
                  f" x {scale:.4g} ({'MAC' if kind in MAC_KINDS else 'element'} scale: {fit_.how}; "
                  f"python -m targets.cost.published_fit)")
        out[f"int8.{kind}"] = Coefficient(round(rate * scale, 4), source, False)
    return out


@dataclass(frozen=True)
class Check:
    figure: published.ModelFigure
    estimate_ms: float  # with the registry's coefficients
    held_out_ms: float | None  # from a fit without this figure; None when nothing is left to fit

    @property
    def ratio(self) -> float:
        return self.estimate_ms / self.figure.ms

    @property
    def held_out_ratio(self) -> float | None:
        return None if self.held_out_ms is None else self.held_out_ms / self.figure.ms


def _estimate_ms(figure: published.ModelFigure, model: PublishedModel, profile: TargetProfile) -> float:
    """The estimate at the clock Espressif measured at (ESP32-P4: 360 MHz; the registry has ESP-IDF's 400)."""
    import dataclasses

    at_clock = dataclasses.replace(profile, clock_mhz=float(figure.clock_mhz))
    return estimate_latency(model, at_clock, figure.config).total_us / 1000


def _with_fit(profile: TargetProfile, fit_: PublishedFit) -> TargetProfile:
    import dataclasses

    from targets.cost.registry import CostModel

    cost = profile.cost_for(fit_.config)
    table = dict(cost.coefficients)
    for key, coefficient in coefficient_lines(fit_).items():
        table[("int8", key.split(".")[1])] = coefficient
    model = CostModel(cost.per_op_overhead_cycles, table)
    if fit_.config == DEFAULT_CONFIG:
        return dataclasses.replace(profile, cost=model)
    return dataclasses.replace(profile, config_costs={**profile.config_costs, fit_.config: model})


def checks(targets_file: Path = DEFAULT_TARGETS_FILE) -> list[Check]:
    """Every published figure against the registry's estimate, and against a fit without it."""
    profiles, models = load_targets(targets_file), load()
    out = []
    for figure in published.MODEL_FIGURES:
        profile, model = profiles[figure.target], models[figure.model]
        held_out = fit_all(profiles, models, leave_out=figure).get((figure.target, figure.config))
        out.append(Check(figure, _estimate_ms(figure, model, profile),
                         None if held_out is None else _estimate_ms(figure, model, _with_fit(profile, held_out))))
    return out


@dataclass(frozen=True)
class ExpectedError:
    config: str
    fitted_pct: float | None  # worst |estimate / published - 1| with the registry's coefficients
    held_out_pct: float | None  # worst over figures predicted without them (leave-one-out)
    held_out_checks: int
    what: str = "model"

    def describe(self) -> str:
        if self.fitted_pct is None:
            return f"not validated: Espressif publishes no {self.what} figure for this target"
        return (f"within {self.held_out_pct:.0f} % on Espressif's published models held out of the fit "
                f"({self.held_out_checks} checks, {self.config} config); {self.fitted_pct:.0f} % on those fitted")


@functools.lru_cache(maxsize=4)
def expected_errors(targets_file: Path = DEFAULT_TARGETS_FILE) -> dict[str, ExpectedError]:
    """Per firmware config, over every target: what an estimate is worth (docs/LATENCY.md)."""
    all_checks = checks(targets_file)
    out = {}
    for config in CONFIGS:
        mine = [c for c in all_checks if c.figure.config == config]
        held = [abs(c.held_out_ratio - 1) for c in mine if c.held_out_ratio is not None]
        out[config] = ExpectedError(config, 100 * max(abs(c.ratio - 1) for c in mine),
                                    100 * max(held) if held else None, len(held))
    return out


def expected_error(target: str, config: str = DEFAULT_CONFIG, dtypes: Sequence[str] = ("int8",)) -> ExpectedError:
    """What an estimate for `target` built with `config` is expected to be off by; only int8
    estimates have one (Espressif publishes no float32 figure)."""
    if any(dtype != "int8" for dtype in dtypes):
        return ExpectedError(config, None, None, 0, what="float32")
    if not figures_of(target, config):
        return ExpectedError(config, None, None, 0)
    return expected_errors()[config]


def write(targets_file: Path = DEFAULT_TARGETS_FILE) -> None:
    """Rewrite the int8 coefficient lines of every fitted target, and of those that copy one."""
    fits = fit_all(load_targets(targets_file), load())
    for fit_ in fits.values():
        write_coefficients(targets_file, fit_.target, coefficient_lines(fit_), config=fit_.config)
    for target, lender in COPIED_FROM.items():
        for config in CONFIGS:
            copied = {key: Coefficient(c.value, f"estimate: no published {target} figure; {lender}'s "
                                                f"coefficient (RISC-V core, esp-nn's generic C path, same clock), "
                                                f"not validated", False)
                      for key, c in coefficient_lines(fits[(lender, config)]).items()}
            write_coefficients(targets_file, target, copied, config=config)
    for target in (*RATE_TABLE, *COPIED_FROM):
        fitted = fits[(COPIED_FROM.get(target, target), "esp_nn_off")]
        write_coefficients(targets_file, target, float32_lines(fitted, target in FPU_TARGETS))


def float32_lines(fitted: PublishedFit, fpu: bool) -> dict[str, Coefficient]:
    """float32 coefficients from a target's esp_nn_off int8 fit (see FPU_TARGETS, SOFT_FLOAT_EXTRA)."""
    out = {}
    for key, c in coefficient_lines(fitted).items():
        kind = key.split(".")[1]
        if fpu:
            value, how = c.value, "an FPU multiply-add per MAC"
        else:
            value, how = c.value + SOFT_FLOAT_EXTRA[kind], f"plus {SOFT_FLOAT_EXTRA[kind]} cycles of soft-float"
        out[f"float32.{kind}"] = Coefficient(round(value, 4), (
            f"estimate: TFLite Micro's float32 kernels are reference C like the int8 ones Espressif timed "
            f"without ESP-NN (same loops, {how}); {fitted.target}'s esp_nn_off int8 rate {c.value:g}; "
            f"no published float figure"), False)
    return out


def main(argv: list[str] | None = None) -> int:
    from targets.cost import latency_doc

    parser = argparse.ArgumentParser(prog="python -m targets.cost.published_fit", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="rewrite targets.toml's int8 lines and docs/LATENCY.md")
    args = parser.parse_args(argv)
    if args.write:
        write()
        expected_errors.cache_clear()
        latency_doc.DOC_FILE.write_text(latency_doc.render())
        print(f"written {DEFAULT_TARGETS_FILE} and {latency_doc.DOC_FILE}")
    print(latency_doc.validation_table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
