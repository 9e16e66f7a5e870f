"""Budgets: ceilings and floors per variant x target, read from budgets.toml.

A budget is a hard limit people edit and review (unlike a regression, which is relative
to the baseline). The file's header comment states the precedence rule implemented in
`Budgets.for_item`; keep the two in step.
"""
from __future__ import annotations

import fnmatch
import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vocabulary.metrics import (
    ARENA_BYTES,
    CHIP_ARENA_BYTES,
    DEVICE_METRICS,
    budget_keys,
    format_metric,
    size_budget_keys,
    unmeasurable,
    variant_budget_keys,
)
from vocabulary.records import ResultRecord

#: budget key -> (record metric, kind). "max": value <= limit, "min": value >= limit.
#: Each key is its metric's `budget` in vocabulary.metrics.
LIMIT_KEYS: dict[str, tuple[str, str]] = {key: (metric, kind) for kind in ("max", "min")
                                          for key, metric in budget_keys(kind).items()}
#: boolean requirements: key -> record field that must be True.
REQUIRE_KEYS: dict[str, str] = budget_keys("require")
KNOWN_KEYS = (*LIMIT_KEYS, *REQUIRE_KEYS)

#: Metrics a source cannot measure at all: a None there is expected, not a failure.
#: Emulated sources run TFLM on the host, so chip latency and the firmware image do not exist.
UNMEASURABLE: dict[str, frozenset[str]] = unmeasurable()

#: A variant TFLite Micro cannot run (deployable=False, e.g. dynamic_range) has no device
#: figures at all (DEVICE_METRICS: the rows marked `device`); budgets on these are not applied to it.

#: Budget keys judged once per variant (host runs: accuracy does not depend on the target).
#: They are looked up with target "*", so set them in [defaults] or [budget.<variant>."*"].
VARIANT_KEYS = variant_budget_keys()

DEFAULTS_TABLE = "defaults"
ITEMS_TABLE = "budget"


class BudgetError(ValueError):
    """budgets.toml names something unknown or is ambiguous; the message names the file,
    the table and the key or name."""


@dataclass(frozen=True)
class Rule:
    """One table of budgets.toml: limits for the items its two patterns match."""

    table: str  # as written in the file, e.g. budget."pruned*_int8"."esp32*"
    variant_pattern: str
    target_pattern: str
    limits: Mapping[str, Any]

    @property
    def specificity(self) -> tuple[int, int]:
        """(total, variant) score; higher wins. See budgets.toml's header."""
        if self.table == DEFAULTS_TABLE:
            return (-1, -1)
        v, t = _pattern_score(self.variant_pattern), _pattern_score(self.target_pattern)
        return (v + t, v)

    def matches(self, variant: str, target: str) -> bool:
        return (fnmatch.fnmatchcase(variant, self.variant_pattern)
                and fnmatch.fnmatchcase(target, self.target_pattern))


@dataclass(frozen=True)
class Violation:
    """A metric outside its budget (or not measured where it should have been)."""

    metric: str
    value: float | None  # None: not measured
    limit: float | bool
    kind: str  # "max", "min" or "require"
    message: str

    @property
    def measured(self) -> bool:
        return self.value is not None


class Budgets:
    """The rules of one budgets.toml, resolved per (variant, target)."""

    def __init__(self, path: Path, rules: list[Rule]) -> None:
        self.path = path
        self.rules = rules

    def for_item(self, variant: str, target: str) -> dict[str, Any]:
        """Every budget key that applies to this variant on this target, most specific
        rule winning per key."""
        return {key: value for key, (value, _) in self._resolve(variant, target).items()}

    def explain(self, variant: str, target: str) -> dict[str, str]:
        """key -> the table its value came from (for messages and reviews)."""
        return {key: table for key, (_, table) in self._resolve(variant, target).items()}

    def _resolve(self, variant: str, target: str) -> dict[str, tuple[Any, str]]:
        matching = sorted((r for r in self.rules if r.matches(variant, target)),
                          key=lambda r: r.specificity)
        resolved: dict[str, tuple[Any, str]] = {}
        for rule in matching:  # least specific first: later rules override
            for key, value in rule.limits.items():
                resolved[key] = (value, rule.table)
        return resolved

    def check_ambiguity(self, variants: Iterable[str], targets: Iterable[str]) -> None:
        """Two equally specific rules that set one key to different values for the same
        item have no winner: raise BudgetError naming both tables."""
        targets = list(targets)
        for variant in variants:
            for target in targets:
                matching = [r for r in self.rules if r.matches(variant, target)]
                for i, a in enumerate(matching):
                    for b in matching[i + 1:]:
                        if a.specificity != b.specificity:
                            continue
                        for key in set(a.limits) & set(b.limits):
                            if a.limits[key] != b.limits[key]:
                                raise BudgetError(
                                    f"{self.path}: [{a.table}] and [{b.table}] are equally "
                                    f"specific and both set {key} for {variant} on {target} "
                                    f"({a.limits[key]!r} vs {b.limits[key]!r}); add a more "
                                    f"specific table or make one pattern an exact name")


def load_budgets(path: str | os.PathLike[str],
                 known_variants: Iterable[str] | None = None,
                 known_targets: Iterable[str] | None = None) -> Budgets:
    """Read and validate budgets.toml.

    Unknown keys always raise BudgetError. Variant and target patterns are checked against
    `known_variants` / `known_targets` when given (None skips that check, for tools that
    do not know the registries): a pattern that matches no known name is an error, since a
    typo there would silently budget nothing.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BudgetError(f"{path}: budgets file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise BudgetError(f"{path}: not valid TOML: {exc}") from exc

    variants = sorted(known_variants) if known_variants is not None else None
    targets = sorted(known_targets) if known_targets is not None else None
    rules: list[Rule] = []
    for top_key, value in data.items():
        if top_key == DEFAULTS_TABLE:
            rules.append(Rule(DEFAULTS_TABLE, "*", "*", _limits(path, DEFAULTS_TABLE, value)))
        elif top_key == ITEMS_TABLE:
            rules.extend(_item_rules(path, value, variants, targets))
        else:
            raise BudgetError(
                f"{path}: unknown top-level table or key [{top_key}]; expected "
                f"[{DEFAULTS_TABLE}] or [{ITEMS_TABLE}.<variant>.<target>]")
    budgets = Budgets(path, rules)
    if variants is not None and targets is not None:
        budgets.check_ambiguity(variants, targets)
    return budgets


def check_budgets(record: ResultRecord, budget: Mapping[str, Any],
                  baseline: Mapping[str, Any] | None = None) -> list[Violation]:
    """Violations of `budget` (from Budgets.for_item) by `record`.

    Pass only the keys one item judges (see split_budget). An accuracy budget on a model
    with no labelled data for its input (an external --model) is "n/a", not a failure.

    `baseline` (metric -> old figure) only adds context to the message. Budgets on metrics
    the record's source cannot measure (latency_us, flash_bytes on host-tflm and virtual)
    and device figures of a non-deployable variant are skipped; any other budgeted metric
    that is None is reported as "not measured".
    """
    if record.error:
        return [Violation("error", None, True, "require",
                          f"not measured: {record.error}")]
    unmeasurable = UNMEASURABLE.get(record.source, frozenset())
    if not record.deployable:
        unmeasurable = unmeasurable | DEVICE_METRICS
    violations: list[Violation] = []
    for key, limit in budget.items():
        if key in REQUIRE_KEYS:
            metric = REQUIRE_KEYS[key]
            if metric in unmeasurable:
                continue
            value = getattr(record, metric)
            if limit and value is not True:
                state = "not measured" if value is None else "False"
                violations.append(Violation(metric, value, True, "require",
                                            f"{metric} is {state} ({key} = true)"))
            continue
        metric, kind = LIMIT_KEYS[key]
        if metric == ARENA_BYTES.name and record.chip_arena_bytes is not None:
            metric = CHIP_ARENA_BYTES.name  # a host record's per-target figure (chip_arena_source says which)
        if metric in unmeasurable:
            continue  # e.g. a virtual board's wall-clock is no chip latency: no budget applies
        if key in VARIANT_KEYS and record.extra.get("no_labelled_data"):
            continue  # n/a: no labelled data for this input shape (said in the record's notes)
        value = getattr(record, metric)
        old = None if baseline is None else baseline.get(metric)
        context = f"baseline {format_metric(metric, old)}" if old is not None else "no baseline"
        if value is None:
            violations.append(Violation(
                metric, None, limit, kind,
                f"{metric} not measured (budget {format_metric(metric, limit)}, {context})"))
            continue
        broken = value > limit if kind == "max" else value < limit
        if broken:
            sign = ">" if kind == "max" else "<"
            violations.append(Violation(
                metric, value, limit, kind,
                f"{metric} {format_metric(metric, value)} {sign} budget "
                f"{format_metric(metric, limit)} ({context})"))
    return violations


#: Budget keys on figures the host measures once for every target (see baseline.py's
#: TARGET_INDEPENDENT): on host runs they are judged once per variant, against the
#: tightest budget among the run's targets. max_arena_bytes only on a record without a
#: chip_arena_bytes (written before there was one): with it, per target, on that figure.
SIZE_KEYS = size_budget_keys()


def split_budget(budgets: Budgets, record: ResultRecord, scope: str,
                 targets: Iterable[str] = ()) -> dict[str, Any]:
    """The budget keys one item judges: scope "variant" (the accuracy keys, looked up with
    target "*", and on host runs the size keys at their tightest over `targets`), "target"
    (latency, fits and what else is left) or "all"."""
    sizes = SIZE_KEYS.get(record.source, frozenset())
    if record.chip_arena_bytes is not None:
        sizes = sizes - {ARENA_BYTES.budget}
    if scope == "variant":
        chosen = {k: v for k, v in budgets.for_item(record.variant, "*").items() if k in VARIANT_KEYS}
        for target in targets:
            for key, value in budgets.for_item(record.variant, target).items():
                if key in sizes and (key not in chosen or value < chosen[key]):
                    chosen[key] = value
        return chosen
    budget = budgets.for_item(record.variant, record.target)
    if scope == "target":
        return {k: v for k, v in budget.items() if k not in VARIANT_KEYS and k not in sizes}
    return budget


def _pattern_score(pattern: str) -> int:
    if pattern == "*":
        return 0
    return 1 if any(ch in pattern for ch in "*?[") else 2


def _item_rules(path: Path, table: Any, variants: list[str] | None,
                targets: list[str] | None) -> list[Rule]:
    if not isinstance(table, dict):
        raise BudgetError(f"{path}: [{ITEMS_TABLE}] must be tables "
                          f"[{ITEMS_TABLE}.<variant>.<target>]")
    rules = []
    for variant_pattern, per_target in table.items():
        where = f'{ITEMS_TABLE}."{variant_pattern}"'
        if not isinstance(per_target, dict) or not all(isinstance(v, dict)
                                                       for v in per_target.values()):
            raise BudgetError(f"{path}: [{where}] must hold target tables, e.g. "
                              f'[{where}."esp32*"] or [{where}."*"]')
        _check_pattern(path, where, variant_pattern, variants, "variant")
        for target_pattern, limits in per_target.items():
            name = f'{where}."{target_pattern}"'
            _check_pattern(path, name, target_pattern, targets, "target")
            rules.append(Rule(name, variant_pattern, target_pattern,
                              _limits(path, name, limits)))
    return rules


def _check_pattern(path: Path, table: str, pattern: str, known: list[str] | None,
                   what: str) -> None:
    if known is None or any(fnmatch.fnmatchcase(name, pattern) for name in known):
        return
    kind = "pattern" if any(ch in pattern for ch in "*?[") else "name"
    raise BudgetError(
        f"{path}: [{table}]: unknown {what} {kind} {pattern!r} (it matches no known "
        f"{what}; known: {', '.join(known)})")


def _limits(path: Path, table: str, limits: Any) -> dict[str, Any]:
    if not isinstance(limits, dict):
        raise BudgetError(f"{path}: [{table}] must be a table of budget keys")
    for key, value in limits.items():
        if key not in KNOWN_KEYS:
            raise BudgetError(f"{path}: [{table}]: unknown key {key!r}; known keys: "
                              f"{', '.join(KNOWN_KEYS)}")
        if key in REQUIRE_KEYS:
            if not isinstance(value, bool):
                raise BudgetError(f"{path}: [{table}]: {key} must be true or false, "
                                  f"not {value!r}")
        elif isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise BudgetError(f"{path}: [{table}]: {key} must be a number >= 0, "
                              f"not {value!r}")
    return dict(limits)
