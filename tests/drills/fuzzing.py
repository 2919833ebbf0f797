"""Schemathesis over the whole served OpenAPI document, with a report instead of the first exception.

Shared by the CI test (tests/drills/test_openapi_fuzz.py, bounded) and the long drill
(bench/drills/fuzz.py). It loads the schema with `schemathesis.openapi.from_url` and runs schemathesis's
engine — the runner behind `schemathesis run` — so every phase (coverage, fuzzing, optionally stateful
links) runs and every failure of every operation is collected with the `curl` that reproduces it.
(`schemathesis.pytest.from_fixture` would be the pytest-native way, but schemathesis 4.32 sets
`request.node._nodeid`, which pytest 9 no longer has.)
"""

from __future__ import annotations

import collections
import dataclasses
import tempfile
import time
from pathlib import Path

import schemathesis
from hypothesis.configuration import set_hypothesis_home_dir
from schemathesis.engine import Status, events

# Hypothesis keeps caches in ./.hypothesis by default; keep the work tree clean.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "watcher-drills-hypothesis")

SEED = 20260101
# What issue 10 asks of every answer: no 5xx, the status is documented, the Content-Type is documented
# for it, and the body matches the documented schema.
GATING_CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance", "response_schema_conformance")
# Further checks the drill can run for information (`bench/drills/fuzz.py --all-checks`); the API is open,
# so the authentication checks do not apply.
EXTRA_CHECKS = (
    "response_headers_conformance",
    "negative_data_rejection",
    "positive_data_acceptance",
    "missing_required_header",
    "unsupported_method",
    "use_after_free",
    "ensure_resource_availability",
)


@dataclasses.dataclass
class Finding:
    operation: str
    check: str
    title: str
    message: str
    curl: str
    phase: str
    status: int | None = None

    def key(self) -> tuple:
        return (self.operation, self.check, self.title, self.message)

    def render(self) -> str:
        lines = [f"[{self.check}] {self.operation}: {self.title}" + (f" (status {self.status}, {self.phase})" if self.status else "")]
        if self.message:
            lines += ["    " + line for line in self.message.strip().splitlines()[:12]]
        if self.curl:
            lines += ["  Reproduce with:", "    " + self.curl.strip().replace("\n", "\n    ")]
        return "\n".join(lines)


@dataclasses.dataclass
class FuzzReport:
    base_url: str
    max_examples: int
    stateful: bool
    checks: tuple[str, ...]
    elapsed_s: float = 0.0
    stop_reason: str = ""
    requests: int = 0
    statuses: collections.Counter = dataclasses.field(default_factory=collections.Counter)  # (operation, status) -> count
    phases: dict[str, str] = dataclasses.field(default_factory=dict)
    failures: list[Finding] = dataclasses.field(default_factory=list)
    errors: list[Finding] = dataclasses.field(default_factory=list)
    operations: set[str] = dataclasses.field(default_factory=set)
    response_schemas_missing: list[str] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures and not self.errors and self.stop_reason == "completed"

    def failures_for(self, checks) -> list[Finding]:
        return [f for f in self.failures if f.check in checks]

    def status_totals(self) -> dict[str, int]:
        totals: collections.Counter = collections.Counter()
        for (_operation, status), count in self.statuses.items():
            totals[str(status)] += count
        return dict(sorted(totals.items()))

    def summary(self) -> str:
        by_check = collections.Counter(f.check for f in self.failures)
        lines = [
            f"schemathesis {schemathesis.__version__} against {self.base_url}: {len(self.operations)} operations, "
            f"{self.requests} requests in {self.elapsed_s:.1f} s (max-examples {self.max_examples}, "
            f"stateful {'on' if self.stateful else 'off'}, stop: {self.stop_reason})",
            "  phases: " + ", ".join(f"{name} {status}" for name, status in self.phases.items()),
            "  statuses: " + ", ".join(f"{status}: {count}" for status, count in self.status_totals().items()),
            f"  failures: {len(self.failures)}"
            + (" (" + ", ".join(f"{c} {n}" for c, n in sorted(by_check.items())) + ")" if by_check else ""),
            f"  errors (network, timeouts, engine): {len(self.errors)}",
        ]
        if self.response_schemas_missing:
            lines.append(
                f"  note: {len(self.response_schemas_missing)} operations document a 2xx answer without a body schema,"
                " so response_schema_conformance cannot fail for them"
            )
        return "\n".join(lines)

    def details(self, limit: int = 50) -> str:
        items = self.failures + self.errors
        text = "\n\n".join(f.render() for f in items[:limit])
        if len(items) > limit:
            text += f"\n\n... and {len(items) - limit} more"
        return text

    def as_json(self) -> dict:
        per_operation: dict[str, dict[str, int]] = {}
        for (operation, status), count in sorted(self.statuses.items(), key=str):
            per_operation.setdefault(operation, {})[str(status)] = count
        return {
            "base_url": self.base_url,
            "schemathesis": schemathesis.__version__,
            "max_examples": self.max_examples,
            "stateful": self.stateful,
            "checks": list(self.checks),
            "elapsed_s": round(self.elapsed_s, 1),
            "stop_reason": self.stop_reason,
            "operations": len(self.operations),
            "requests": self.requests,
            "phases": self.phases,
            "status_totals": self.status_totals(),
            "statuses_by_operation": per_operation,
            "failures": [dataclasses.asdict(f) for f in self.failures],
            "errors": [dataclasses.asdict(f) for f in self.errors],
            "operations_without_response_schema": self.response_schemas_missing,
        }


def _operations_without_response_schema(raw: dict) -> list[str]:
    missing = []
    for path, item in raw.get("paths", {}).items():
        for method, operation in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            for status, response in operation.get("responses", {}).items():
                if not status.startswith("2"):
                    continue
                contents = response.get("content") or {}
                if contents and all(not media.get("schema") for media in contents.values()):
                    missing.append(f"{method.upper()} {path} {status}")
    return missing


def run_fuzz(
    base_url: str,
    *,
    max_examples: int,
    stateful: bool = False,
    stateful_max_steps: int = 20,
    checks: tuple[str, ...] = GATING_CHECKS,
    seed: int = SEED,
    request_timeout: float = 20.0,
    max_time: int | None = None,
) -> FuzzReport:
    """Run every phase over every operation of `base_url`/openapi.json; never raises on a failed check."""
    config = schemathesis.Config.from_dict(
        {
            "seed": seed,
            "base-url": base_url,
            "request-timeout": request_timeout,
            **({"max-time": max_time} if max_time else {}),
            "generation": {"max-examples": max_examples, "deterministic": True, "database": "none"},
            "checks": {"enabled": False, **{name: {"enabled": True} for name in checks}},
            "phases": {"stateful": {"enabled": stateful, "max-steps": stateful_max_steps}},
        }
    )
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json", config=config, timeout=request_timeout)
    report = FuzzReport(base_url=base_url, max_examples=max_examples, stateful=stateful, checks=tuple(checks))
    report.response_schemas_missing = _operations_without_response_schema(schema.raw_schema)
    seen: set[tuple] = set()
    started = time.monotonic()
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.PhaseFinished):
            report.phases[str(event.phase.name)] = str(event.status) if event.status is not None else "skipped"
        elif isinstance(event, events.ScenarioFinished):
            _collect_scenario(report, event, seen)
        elif isinstance(event, events.NonFatalError):
            report.errors.append(
                Finding(
                    operation=event.label,
                    check="-",
                    title=event.info.title,
                    message=event.info.format(),
                    curl=event.info.code_sample or "",
                    phase=str(event.phase) if event.phase else "",
                )
            )
        elif isinstance(event, events.FatalError):
            report.errors.append(Finding("-", "-", "Engine error", repr(event.exception), "", ""))
        elif isinstance(event, events.EngineFinished):
            report.stop_reason = str(event.stop_reason)
    report.elapsed_s = time.monotonic() - started
    return report


def _collect_scenario(report: FuzzReport, event: events.ScenarioFinished, seen: set[tuple]) -> None:
    recorder = event.recorder
    phase = str(event.phase)
    for case_id, interaction in recorder.interactions.items():
        node = recorder.cases.get(case_id)
        operation = node.value.operation.label if node is not None else recorder.label
        report.operations.add(operation)
        report.requests += 1
        report.statuses[(operation, interaction.response.status_code if interaction.response is not None else None)] += 1
    for case_id, checks in recorder.checks.items():
        for check in checks:
            if check.status != Status.FAILURE or check.failure_info is None:
                continue
            failure = check.failure_info.failure
            node = recorder.cases.get(failure.case_id or case_id)
            interaction = recorder.interactions.get(failure.case_id or case_id)
            finding = Finding(
                operation=node.value.operation.label if node is not None else recorder.label,
                check=check.name,
                title=failure.title,
                message=failure.message or "",
                curl=check.failure_info.code_sample,
                phase=phase,
                status=interaction.response.status_code if interaction is not None and interaction.response is not None else None,
            )
            if finding.key() not in seen:
                seen.add(finding.key())
                report.failures.append(finding)
