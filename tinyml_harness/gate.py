"""pytest plugin: the gate. Every result is stored, checked against budgets and baseline.

Tests hand a ResultRecord to `result_sink.submit(record)` and assert the Gate it returns.
The record is appended to reports/latest/results.jsonl at once (an interrupted run keeps
what it measured), its metrics go to the JUnit XML (record_property; junit_family=xunit1)
and, with pytest-embedded's --metric-path, to OpenMetrics lines through its log_metric.
At the end the report is rebuilt from results.jsonl, regressions are printed as one
table, the summary goes to GITHUB_STEP_SUMMARY when set, and --update-baseline rewrites
the baseline, only from a complete run.
"""
from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

from reports.baseline import (
    BASELINE_METRICS,
    BaselineError,
    baseline_figures,
    load_baseline,
    metrics_for,
    run_meta,
    write_baseline,
    write_obtained,
)
from reports.budgets import BudgetError, Budgets, check_budgets, load_budgets, split_budget
from reports.compare import ToleranceError, format_comparison_table, judge, parse_tolerances
from reports.report import build_report
from reports.results_store import ResultsStore
from tinyml_harness.plugin import settings
from vocabulary.metrics import LATENCY_EST_US, REPORTED_METRICS, format_metric
from vocabulary.records import ResultRecord

SESSION = pytest.StashKey["GateSession"]()
RUN_ID = "tinyml_run_id"  # made by the controller, handed to xdist workers through workerinput
METRICS = REPORTED_METRICS  # what each gate item sends to the JUnit XML and --metric-path (vocabulary.metrics)


@dataclass(frozen=True)
class Gate:
    ok: bool
    message: str


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


class GateSession:
    """Budgets, baseline and the results store for one pytest run."""

    def __init__(self, config: pytest.Config):
        from model_builders.variants import RECIPES
        from tinyml_harness.host_fixtures import external_models, selected_targets, target_registry

        self.config = config
        # One id per run, shared with xdist workers (never through os.environ: the plugin
        # loads in every pytest run of the environment and must leave it alone).
        workerinput = getattr(config, "workerinput", None)
        self.run_id: str = workerinput[RUN_ID] if workerinput is not None else uuid.uuid4().hex
        self.settings = settings(config)
        self.report_dir: Path = self.settings.report_dir
        self.store = ResultsStore(self.report_dir)
        self.known_variants = list(RECIPES) + [m.name for m in external_models(config)]
        self.known_targets = list(target_registry(config))
        self.selected_targets = selected_targets(config)
        self.budgets_path: Path = self.settings.budgets
        self.baseline_path: Path = self.settings.baseline
        try:
            self.tolerances = parse_tolerances(self.settings.tolerances or None)
        except ToleranceError as exc:
            raise pytest.UsageError(f"--tolerance: {exc}") from None
        self.budget_error: str | None = None
        self.budgets: Budgets | None
        try:
            self.budgets = load_budgets(self.budgets_path, self.known_variants, self.known_targets)
        except BudgetError as exc:
            self.budgets, self.budget_error = None, str(exc)  # every gate fails with it; measuring goes on
        self.baseline_error: str | None = None
        try:
            self.baseline = load_baseline(self.baseline_path)
        except BaselineError as exc:
            self.baseline, self.baseline_error = None, str(exc)
        self.submitted = 0
        self.expected = 0
        self.gate_items: set[str] = set()
        self.skipped = 0  # gate items skipped for a stated reason (nothing to measure)
        self.failed_items: list[str] = []
        self.summary_lines: list[str] = []  # the report's lines, for the terminal summary

    def meta(self) -> dict:
        """Versions, git commit and the fingerprint of the dataset this run built from."""
        from tinyml_harness.build_fixtures import built_session

        build = built_session(self.config)
        return run_meta(build.data.fingerprint if build else None, repo_dir=self.config.rootpath)

    @functools.cached_property
    def family_size(self) -> int:
        """How many variants this run judges for accuracy: alpha is shared among them."""
        from tinyml_harness.build_fixtures import selected_variant_names
        from tinyml_harness.host_fixtures import external_models

        return len(selected_variant_names(self.config)) + len(external_models(self.config))

    def _ensure_run_started(self) -> None:
        """Archive the previous run's results only when this run has a first result, so a
        run of unit tests alone leaves the last report in place. Once per run, across
        xdist workers (the run id comes from the controller)."""
        run_id = self.run_id
        self.report_dir.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.report_dir / ".run.lock")):
            if (self.store.read_meta() or {}).get("run_id") != run_id:
                self.store.start_run(meta={"run_id": run_id, **self.meta()})

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """A gate item skipped with a reason (nothing to measure) still leaves the run complete."""
        if report.skipped and report.nodeid in self.gate_items:
            self.skipped += 1

    def submit(self, record: ResultRecord, scope: str = "all") -> Gate:
        """Store (unless scope is "variant": its figures are in the per-target records) and
        judge the metrics of `scope` against budgets and baseline (see baseline.metrics_for)."""
        self._ensure_run_started()
        if scope != "variant":
            self.store.append(record)
        self.submitted += 1
        problems: list[str] = []
        if record.error:
            problems.append(f"not measured: {record.error}")
        if scope != "target":
            problems += [f"harness rule: {p}" for p in record.extra.get("problems", [])]
        old = baseline_figures(self.baseline, record)
        if self.budgets is None:
            problems.append(f"budgets not checked: {self.budget_error}")
        elif not record.error:
            violations = check_budgets(record, split_budget(self.budgets, record, scope, self.selected_targets), old)
            problems += [f"budget: {v.message}" for v in violations]
        notes: list[str] = []
        if self.baseline_error:
            problems.append(f"baseline not compared: {self.baseline_error}")
        elif not record.error and not self.settings.update_baseline:
            for row in judge(record, self.baseline, self.tolerances, scope, family=self.family_size):
                text = (f"{row.metric} {format_metric(row.metric, row.old)} -> {format_metric(row.metric, row.new)} "
                        f"(tolerance {row.tolerance})" + (f"; {row.note}" if row.note else ""))
                if row.fails:
                    problems.append(f"{'regression' if row.status == 'regressed' else row.status}: {text}")
                elif row.status == "new" and row.note.startswith("no baseline yet") and not notes:
                    notes.append(f"{row.note}: gated on budgets alone")
                elif row.status == "not comparable":
                    notes.append(f"not comparable: {text}")
        if problems:
            self.failed_items.append("/".join(record.key) if scope != "variant"
                                     else f"{record.variant}/{record.source}")
        return Gate(not problems, _message(record, problems, old, scope, notes))


def _message(record: ResultRecord, problems: list[str], old: dict, scope: str, notes: list[str]) -> str:
    metrics = metrics_for(record.source, scope)
    where = "every target" if scope == "variant" else record.target
    lines = [f"{record.variant} on {where} ({record.source}): {len(problems)} problem(s)"]
    lines += [f"  - {p}" for p in problems]
    lines += [f"  note: {n}" for n in notes]
    lines.append(f"  {'metric':<18}{'value':>14}{'baseline':>14}")
    for metric in metrics:
        value = getattr(record, metric)
        if value is None and old.get(metric) is None:
            continue
        base = old.get(metric)
        lines.append(f"  {metric:<18}{format_metric(metric, value):>14}{format_metric(metric, base):>14}")
    if record.extra.get("latency_est_label") and LATENCY_EST_US.name in metrics:
        lines.append(f"  {LATENCY_EST_US.name} is an {record.extra['latency_est_label']}")
    return "\n".join(lines)


def pytest_configure(config: pytest.Config) -> None:
    if settings(config).update_baseline and not settings(config).baseline_reason:
        raise pytest.UsageError("--update-baseline needs --baseline-reason \"why the figures change\"")
    config.stash[SESSION] = GateSession(config)
    config.pluginmanager.register(config.stash[SESSION], "tinyml-gate-session")


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist, on the controller: give each worker this run's id."""
    node.workerinput[RUN_ID] = node.config.stash[SESSION].run_id


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    gate = config.stash[SESSION]
    gate.gate_items = {item.nodeid for item in items if "result_sink" in getattr(item, "fixturenames", ())}
    gate.expected = len(gate.gate_items)



class BoundSink:
    """The session gate, bound to one test for record_property and log_metric."""

    def __init__(self, session: GateSession, request: pytest.FixtureRequest):
        self.session, self.request = session, request

    def submit(self, record: ResultRecord, scope: str = "all") -> Gate:
        gate = self.session.submit(record, scope)
        record_property = self.request.getfixturevalue("record_property")
        metric_path = self.request.config.getoption("metric_path", None)
        log_metric = self.request.getfixturevalue("log_metric") if metric_path else None
        labels = {"target": "*" if scope == "variant" else record.target, "variant": record.variant,
                  "source": record.source}
        judged = set(metrics_for(record.source, scope))
        for metric in METRICS:
            value = getattr(record, metric)
            if metric in BASELINE_METRICS and metric not in judged:
                continue
            if value is None:
                continue
            record_property(metric, value)
            if log_metric:
                log_metric(f"tinyml_{metric}", value, **labels)
        record_property("source", record.source)
        if record.error:
            record_property("error", record.error)
        return gate


@pytest.fixture
def result_sink(request: pytest.FixtureRequest) -> BoundSink:
    return BoundSink(request.config.stash[SESSION], request)


def _complete(session: pytest.Session, gate: GateSession, exitstatus: int) -> tuple[bool, str]:
    config = session.config
    if exitstatus in (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.USAGE_ERROR):
        return False, "the run was interrupted"
    # A project's own `variants =` ini line is its full set; --variants on the command line filters it.
    if config.getoption("keyword") or config.getoption("variants") or \
            config.getoption("target", None) not in (None, "auto", "all"):
        return False, "the selection was filtered (-k, --variants or --target)"
    expected = gate.expected - gate.skipped
    if gate.expected == 0 or gate.submitted < expected:
        return False, f"{gate.submitted} of {expected} results were measured ({gate.skipped} skipped with a reason)"
    errors = [r for r in gate.store.read() if r.error]
    if errors:
        return False, f"{len(errors)} result(s) could not be measured"
    return True, ""


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if _is_worker(config) or SESSION not in config.stash:
        return
    gate = config.stash[SESSION]
    if (gate.store.read_meta() or {}).get("run_id") != gate.run_id:
        return  # no result in this run: the last report stays as it was
    records = gate.store.read()
    meta = gate.store.read_meta() or gate.meta()  # as recorded when the run's first result came
    paths = build_report(records, gate.report_dir, gate.baseline_path, gate.budgets_path,
                         known_variants=gate.known_variants, known_targets=gate.known_targets,
                         current_meta=meta, tolerances=gate.tolerances)
    lines = [f"report: {paths.summary} (results: {paths.csv})"]
    if paths.comparison:
        lines.append(paths.comparison.headline())
        lines.append(paths.comparison.like_for_like_line())
        if paths.comparison.regressions:
            lines.append(format_comparison_table(paths.comparison))
            lines.append(f"obtained figures: {write_obtained(gate.baseline_path, records, meta)}")
    lines += [f"note: {n}" for n in paths.notes]
    if gate.settings.update_baseline:
        complete, why = _complete(session, gate, exitstatus)
        try:
            path = write_baseline(gate.baseline_path, records, meta, gate.settings.baseline_reason, complete)
            lines.append(f"baseline updated: {path}")
        except BaselineError as exc:
            lines.append(f"baseline NOT updated: {exc} ({why})")
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    gate.summary_lines = lines


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    gate = config.stash.get(SESSION, None)
    if gate is None or not gate.summary_lines:
        return
    terminalreporter.section("TinyML harness report")
    for line in gate.summary_lines:
        terminalreporter.write_line(line)
    if gate.failed_items:
        terminalreporter.write_line(f"{len(gate.failed_items)} item(s) failed the gate: {', '.join(gate.failed_items)}")
