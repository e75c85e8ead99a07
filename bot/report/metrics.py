"""The run's state as Prometheus exposition text (``rightsizer_*`` gauges).

Written next to report.json on every run and pushed to a Pushgateway when one is
configured (``bot.report.push``). Label values are bounded: statuses, actions and reason
classes are small fixed sets; only nodes and containers (for coverage) grow with the
cluster. The Grafana dashboard in deploy/grafana/ reads exactly these names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from bot.engine.plan import STATUSES, Decision, Plan
from bot.report.posture import Posture, postures
from bot.report.savings import Prices, total

RESOURCES = ("cpu", "memory")
STATES = ("current", "recommended", "pending")  # now, after this PR, after every pending recommendation
_WHICH = {"current": "now", "recommended": "after_pr", "pending": "after_pending"}
PR_STATES = ("open", "paused", "declined", "closed", "none")
# Reason classes, first match wins: a bounded label instead of the free-text reason.
_REASONS = (
    ("does not fit", "does-not-fit"), ("over the cap", "over-cap"), ("excluded", "excluded"),
    ("mode is off", "mode-off"), ("/rightsize skip", "skip-command"), ("not found in Git", "not-in-git"),
    ("short-lived", "batch"), ("mode is report", "mode-report"), ("deadband", "within-deadband"),
    ("coverage", "not-enough-data"), ("data", "not-enough-data"), ("HPA", "hpa"),
)


@dataclass(frozen=True)
class RunInfo:
    """What the run knows besides the plan: when, whether it worked, the PRs' states."""

    now: float
    success: bool = True
    last_success: float | None = None  # defaults to ``now`` when the run succeeded
    pull_requests: Mapping[str, tuple[str, int | None]] | None = None  # scope → (state, number)
    prices: Prices | None = None


def action_of(d: Decision) -> str:
    rec = d.recommendation
    if rec is None or not rec.changed:
        return "none"
    ups = [rec.proposed.effective_request(r) > rec.current.effective_request(r) for r in RESOURCES]
    downs = [rec.proposed.effective_request(r) < rec.current.effective_request(r) for r in RESOURCES]
    if any(ups) and any(downs):
        return "mixed"
    return "upsize" if any(ups) else "downsize" if any(downs) else "limits-only"


def reason_of(d: Decision) -> str:
    if d.recommendation is not None and d.recommendation.urgent:
        return "restarts-or-oom"
    for needle, slug in _REASONS:
        if needle in d.reason:
            return slug
    return "usage" if d.status == "selected" else "other"


def escape(value: str) -> str:
    """A label value as the exposition format wants it (backslash, quote, newline escaped)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{escape(str(v))}"' for k, v in labels.items()) + "}"


def _num(value: float) -> str:
    return repr(float(value)) if value != int(value) else str(int(value))


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, help_: str, samples: Iterable[tuple[Mapping[str, str], float]]) -> None:
        self.lines += [f"# HELP {name} {help_}", f"# TYPE {name} gauge"]
        self.lines += [f"{name}{_labels(labels)} {_num(value)}" for labels, value in samples]


def _posture_samples(items: Sequence[Posture], with_node: bool) -> list[tuple[dict[str, str], float]]:
    out = []
    for p in items:
        for i, resource in enumerate(RESOURCES):
            for state in STATES:
                labels = {"node": p.name} if with_node else {}
                out.append(({**labels, "resource": resource, "state": state}, round(p.percent(_WHICH[state], i), 3)))
    return out


def _budget_samples(items: Sequence[Posture], with_node: bool) -> list[tuple[dict[str, str], float]]:
    return [(({"node": p.name} if with_node else {}) | {"resource": r}, round(p.budget_percent(i), 3))
            for p in items for i, r in enumerate(RESOURCES)]


def render(plan: Plan, info: RunInfo) -> str:
    w = _Writer()
    counts: dict[tuple[str, str, str], int] = {}
    for d in plan.decisions:
        key = (d.status, action_of(d), reason_of(d))
        counts[key] = counts.get(key, 0) + 1
    w.family("rightsizer_recommendations", "Containers by decision status, resize action and reason class.",
             (({"status": s, "action": a, "reason": r}, n) for (s, a, r), n in sorted(counts.items())))
    w.family("rightsizer_decisions", "Containers per decision status (selected, blocked, over-cap, ...).",
             (({"status": s}, len(plan.by_status(s))) for s in STATUSES))
    nodes, cluster = postures(plan)
    w.family("rightsizer_cluster_requests_percent", "Cluster requests as % of allocatable: current, "
             "recommended (after this PR) and pending (after every pending recommendation).",
             _posture_samples([cluster], with_node=False))
    w.family("rightsizer_node_requests_percent", "Node requests as % of allocatable: current, recommended, pending.",
             _posture_samples(nodes, with_node=True))
    w.family("rightsizer_cluster_budget_percent", "The policy's cluster budget as % of allocatable.",
             _budget_samples([cluster], with_node=False))
    w.family("rightsizer_node_budget_percent", "The policy's node budget as % of allocatable.",
             _budget_samples(nodes, with_node=True))
    coverage = _coverage(plan)
    # Coverage in seconds (Prometheus' base unit; promtool flags "days"); the dashboard shows days.
    w.family("rightsizer_coverage_seconds", "Usage data per container in the measurement window, in seconds.",
             (({"namespace": ns, "workload": wl, "container": c}, secs) for (ns, wl, c), secs in sorted(coverage.items())))
    w.family("rightsizer_coverage_seconds_min", "The least-covered container's seconds of usage data.",
             [({}, min(coverage.values(), default=0))])
    w.family("rightsizer_last_run_timestamp_seconds", "When the last run ended (Unix time).", [({}, round(info.now))])
    w.family("rightsizer_run_success", "1 when the last run succeeded, else 0.", [({}, 1 if info.success else 0)])
    last_ok = info.last_success if info.last_success is not None else (info.now if info.success else None)
    if last_ok is not None:
        w.family("rightsizer_last_success_timestamp_seconds", "When a run last succeeded (Unix time).",
                 [({}, round(last_ok))])
    prs = dict(info.pull_requests or {})
    w.family("rightsizer_pull_request", "1 for each PR scope's current state (open, paused, declined, closed, none).",
             (({"scope": scope, "state": state}, 1) for scope, (state, _) in sorted(prs.items())))
    w.family("rightsizer_pull_request_number", "Number of the open PR per scope.",
             (({"scope": scope}, number) for scope, (state, number) in sorted(prs.items()) if number))
    if info.prices is not None:
        pending = [d for d in plan.decisions if d.status in ("selected", "over-cap", "blocked")]
        currency = info.prices.currency
        w.family("rightsizer_estimated_monthly_savings", "Estimated monthly savings (negative: extra cost) of this PR "
                 "and of every pending recommendation, from the policy's prices.",
                 [({"set": "pr", "currency": currency}, round(-total(plan.selected, info.prices), 2)),
                  ({"set": "pending", "currency": currency}, round(-total(pending, info.prices), 2))])
    return "\n".join(w.lines) + "\n"


def _coverage(plan: Plan) -> dict[tuple[str, str, str], float]:
    out = {}
    for d in plan.decisions:
        c = d.workload.container(d.container)
        if c is not None:
            out[(d.workload.namespace, d.workload.name, d.container)] = round(c.coverage_seconds)
    return out


def failure(now: float) -> str:
    """The two series a failed run may still report (pushed without replacing the others)."""
    w = _Writer()
    w.family("rightsizer_last_run_timestamp_seconds", "When the last run ended (Unix time).", [({}, round(now))])
    w.family("rightsizer_run_success", "1 when the last run succeeded, else 0.", [({}, 0)])
    return "\n".join(w.lines) + "\n"
