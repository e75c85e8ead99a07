"""The PR body and the human summaries, from a plan.

Layout follows what seed 000's users liked: what changes, why, how it fits on
each node, and what was left out and why.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Iterable, Sequence

from bot.engine.plan import BLOCKED, OVER_CAP, REPORT_ONLY, SELECTED, SKIPPED, UNCHANGED, Decision, NodeReport, Plan
from bot.model import FIELDS, ResourceSpec
from bot.quantity import human
from bot.report.chart import node_charts
from bot.report.json_report import nodes_dicts

PR_BODY_LIMIT = 60_000
LABELS = {("requests", "cpu"): "CPU request", ("requests", "memory"): "memory request",
          ("limits", "cpu"): "CPU limit", ("limits", "memory"): "memory limit"}
HEADLINE_STEPS = ("percentile", "restart guard", "OOM bump", "throttle guard", "no-downsize", "pin", "max step", "coverage", "HPA", "QoS")


@dataclass(frozen=True)
class FileLines:
    """A changed file and the lines that changed, for the PR text."""

    path: str
    lines: tuple[int, ...]
    refs: tuple[str, ...] = ()


def _pct(old: int | None, new: int | None) -> str:
    if old in (None, 0) or new is None:
        return ""
    change = (new - old) / old * 100
    return f" ({change:+.0f}%)"


def _cell(spec_old: ResourceSpec, spec_new: ResourceSpec, kind: str, r: str) -> str:
    old, new = spec_old.get(kind, r), spec_new.get(kind, r)
    if old == new:
        return human(r, old) if old is not None else "·"
    return f"{human(r, old)} → **{human(r, new)}**{_pct(old, new)}"


FLAG_STEPS = ("burst", "confidence", "bounds", "max step", "deadband", "restart guard", "OOM bump", "throttle guard", "no-downsize", "HPA", "pin", "QoS")
RES_TITLE = {"cpu": "CPU", "memory": "memory"}


def headline(d: Decision) -> str:
    """One line per decision: for each changed resource, the usage it was sized from and what shaped it."""
    rec = d.recommendation
    if rec is None:
        return d.reason
    changed = {r for _, r, _, _ in rec.current.diff(rec.proposed)}
    parts = []
    for r in ("cpu", "memory"):
        if r not in changed:
            continue
        basis = next((s for s in rec.steps if s.resource == r and s.name in ("percentile", "pin")), None)
        flags = list(dict.fromkeys(s.name for s in rec.steps if s.resource == r and s.name in FLAG_STEPS))
        if basis is None or basis.value is None:
            text = f"{RES_TITLE[r]} kept"
        elif basis.name == "pin":
            text = f"{RES_TITLE[r]} pinned"
        else:
            label = basis.text.split(" usage")[0]
            text = f"{RES_TITLE[r]} {label} {human(r, int(round(basis.value)))}"
        parts.append(text + (f" ({', '.join(flags)})" if flags else ""))
    if rec.urgent:
        c = d.workload.container(d.container)
        if c is not None:
            parts.insert(0, f"{c.restarts} restart(s), {c.oom_kills} OOM kill(s)")
    return "; ".join(parts)


def changes_table(decisions: Sequence[Decision]) -> list[str]:
    rows = ["| Workload | Container | " + " | ".join(LABELS[f].capitalize().replace("Cpu", "CPU") for f in FIELDS) + " |", "|---|---|---|---|---|---|"]
    for d in decisions:
        rec = d.recommendation
        assert rec is not None
        cells = [_cell(rec.current, rec.proposed, k, r) for k, r in FIELDS]
        flag = " 🚑" if rec.urgent else ""
        rows.append(f"| `{d.workload.namespace}/{d.workload.name}`{flag} | `{d.container}` | " + " | ".join(cells) + " |")
    return rows


def rationale(d: Decision, *, open_: bool = False) -> list[str]:
    rec = d.recommendation
    assert rec is not None
    # Names come from the cluster (a snapshot): inside raw HTML they must be escaped.
    out = [f"<details{' open' if open_ else ''}><summary><code>{html.escape(d.key)}</code> — "
           f"{html.escape(headline(d) or 'see steps', quote=False)}</summary>", ""]
    for s in rec.steps:
        out.append(f"- **{s.resource} {s.name}**: {s.text}")
    for note in d.notes:
        out.append(f"- **selection**: {note}")
    diff = list(rec.current.diff(rec.proposed))
    if rec.target != rec.proposed and diff:
        targets = [f"{LABELS[(k, r)]} {human(r, rec.target.get(k, r))}" for k, r, _, _ in diff if rec.target.get(k, r) != rec.proposed.get(k, r)]
        if targets:
            out.append(f"- **converging**: the long-run target is {', '.join(targets)}; later runs continue in steps")
    out.append(f"- **policy**: {' → '.join(d.policy.layers)}")
    out += ["", "</details>"]
    return out


def _use(v: int, total: int) -> str:
    return f"{v * 100 / total:.0f}%" if total else "—"


def node_table(nodes: Iterable[NodeReport], cluster: NodeReport) -> list[str]:
    rows = [
        "| Node | CPU allocatable | CPU requests before → after (budget) | Memory allocatable | Memory requests before → after (budget) |",
        "|---|---|---|---|---|",
    ]
    for n in list(nodes) + [cluster]:
        cpu_a, mem_a = n.allocatable.cpu or 0, n.allocatable.memory or 0
        flag = lambda used, budget: " ⚠️" if used > budget else ""  # noqa: E731
        name = f"**{n.name}**" if n.name == "cluster" else f"`{n.name}`"
        rows.append(
            f"| {name} | {human('cpu', cpu_a)} "
            f"| {human('cpu', n.before.cpu)} ({_use(n.before.cpu or 0, cpu_a)}) → {human('cpu', n.after.cpu)} ({_use(n.after.cpu or 0, cpu_a)}) "
            f"of {human('cpu', n.budget.cpu)}{flag(n.after.cpu or 0, n.budget.cpu or 0)} "
            f"| {human('memory', mem_a)} "
            f"| {human('memory', n.before.memory)} ({_use(n.before.memory or 0, mem_a)}) → {human('memory', n.after.memory)} ({_use(n.after.memory or 0, mem_a)}) "
            f"of {human('memory', n.budget.memory)}{flag(n.after.memory or 0, n.budget.memory or 0)} |"
        )
    return rows


def _list(decisions: Sequence[Decision], limit: int | None = None) -> list[str]:
    shown = decisions if limit is None else decisions[:limit]
    out = [f"- `{d.key}` — {d.reason}" + (f" ({headline(d)})" if d.status in (BLOCKED, OVER_CAP, REPORT_ONLY) and headline(d) else "") for d in shown]
    if limit is not None and len(decisions) > limit:
        out.append(f"- … and {len(decisions) - limit} more (see report.json)")
    return out


def policy_section(plan: Plan) -> list[str]:
    return [
        "<details><summary>Policy in force</summary>",
        "",
        f"- policy files: {plan.policy_source}",
        f"- window: {plan.window} (data collected {plan.collected_at})",
        f"- at most {plan.max_changes} changes per PR",
        f"- cluster budget: {human('cpu', plan.cluster.budget.cpu)} CPU, {human('memory', plan.cluster.budget.memory)} memory of requests",
        "",
        "</details>",
    ]


def files_section(files: Sequence[FileLines]) -> list[str]:
    if not files:
        return []
    out = ["### Files changed", ""]
    for f in files:
        lines = ", ".join(str(n) for n in f.lines)
        refs = f" ({', '.join(f'`{r}`' for r in f.refs)})" if f.refs else ""
        out.append(f"- `{f.path}` line{'s' if len(f.lines) != 1 else ''} {lines}{refs}")
    return out + [""]


def summary_counts(plan: Plan) -> str:
    sel = plan.selected
    up = sum(1 for d in sel if d.recommendation and any(d.recommendation.proposed.effective_request(r) > d.recommendation.current.effective_request(r) for r in ("cpu", "memory")))
    return (
        f"{len(sel)} change(s) selected ({up} upsize(s), {len(sel) - up} downsize(s)); "
        f"{len(plan.by_status(BLOCKED))} blocked by capacity, {len(plan.by_status(OVER_CAP))} waiting for a later PR, "
        f"{len(plan.by_status(REPORT_ONLY))} report-only, {len(plan.by_status(SKIPPED))} skipped, "
        f"{len(plan.by_status(UNCHANGED))} already right."
    )


def render_pr_body(
    plan: Plan,
    files: Sequence[FileLines] = (),
    unmapped: Sequence[tuple[str, str]] = (),
    *,
    details_url: str | None = None,
    limit: int = PR_BODY_LIMIT,
) -> str:
    """The PR description; trimmed (details first) to stay under ``limit`` characters."""
    for rationale_limit, list_limit in ((None, None), (40, 50), (10, 20), (0, 10), (0, 0)):
        text = _render(plan, files, unmapped, details_url, rationale_limit, list_limit)
        if len(text) <= limit:
            return text
    return text[: limit - 200] + "\n\n… (truncated; the full report is in the run's step summary)\n"


def _render(plan, files, unmapped, details_url, rationale_limit, list_limit) -> str:
    sel = plan.selected
    out = ["## Rightsizer: resource changes", "", summary_counts(plan), ""]
    if sel:
        out += ["### Changes", ""] + changes_table(sel) + [""]
        out += ["🚑 = memory upsize for a container that restarted or was OOM-killed: goes first.", ""] if any(d.recommendation.urgent for d in sel) else []
        shown = sel if rationale_limit is None else sel[:rationale_limit]
        if shown:
            out += ["### Why", ""]
            for d in shown:
                out += rationale(d) + [""]
        if len(shown) < len(sel):
            out += [f"Rationale for {len(sel) - len(shown)} more change(s) is in report.json and the step summary" + (f" ({details_url})" if details_url else "") + ".", ""]
    out += files_section(files)
    out += ["### Node fit", ""] + node_table(plan.nodes, plan.cluster) + [""] + [node_charts({"nodes": nodes_dicts(plan.nodes)}), ""]
    for title, status in (("Blocked: does not fit", BLOCKED), ("Next time (over the per-PR cap)", OVER_CAP), ("Report only", REPORT_ONLY), ("Skipped", SKIPPED)):
        items = plan.by_status(status)
        if items and list_limit != 0:
            out += [f"### {title}", ""] + _list(items, list_limit) + [""]
    if unmapped:
        out += ["### Not found in Git", ""] + [f"- `{ref}` — {why}" for ref, why in (unmapped if list_limit is None else unmapped[: list_limit or 0])] + [""]
    if plan.unknown_nodes:
        out += [f"Pods on nodes missing from the snapshot were not counted: {', '.join(plan.unknown_nodes)}.", ""]
    out += policy_section(plan)
    if details_url and (rationale_limit is not None or list_limit is not None):
        out += ["", f"Some details were trimmed to fit a PR description; the full report: {details_url}"]
    return "\n".join(out) + "\n"


def render_terminal_summary(plan: Plan, files: Sequence[FileLines] = ()) -> str:
    """A short plain-text summary for the terminal (demo, dry runs)."""
    lines = [summary_counts(plan), ""]
    for d in plan.selected:
        rec = d.recommendation
        changes = ", ".join(
            f"{LABELS[(k, r)]} {human(r, a)} → {human(r, b)}" for k, r, a, b in rec.current.diff(rec.proposed)
        )
        lines.append(f"  {'!' if rec.urgent else '+' if any(rec.proposed.effective_request(x) > rec.current.effective_request(x) for x in ('cpu', 'memory')) else '-'} {d.key}: {changes}")
        lines.append(f"      why: {headline(d)}")
        for note in d.notes:
            lines.append(f"      {note}")
    for d in plan.by_status(BLOCKED):
        lines.append(f"  x {d.key}: {d.reason}")
    lines.append("")
    for n in plan.nodes:
        lines.append(
            f"  node {n.name}: CPU {_use(n.before.cpu or 0, n.allocatable.cpu or 0)} → {_use(n.after.cpu or 0, n.allocatable.cpu or 0)}, "
            f"memory {_use(n.before.memory or 0, n.allocatable.memory or 0)} → {_use(n.after.memory or 0, n.allocatable.memory or 0)} of allocatable"
        )
    if files:
        lines += ["", "Files changed:"] + [f"  {f.path} (lines {', '.join(map(str, f.lines))})" for f in files]
    return "\n".join(lines) + "\n"


def explain(plan: Plan, ref: str) -> str:
    """Markdown rationale for one workload (namespace/name) or container (namespace/name/container)."""
    parts = ref.strip("/").split("/")
    hits = [d for d in plan.decisions if [d.workload.namespace, d.workload.name] == parts[:2] and (len(parts) < 3 or d.container == parts[2])]
    if not hits:
        return f"No container matches `{ref}` in this snapshot."
    out = []
    for d in hits:
        out.append(f"**`{d.key}`**: {d.status}" + (f" — {d.reason}" if d.reason else ""))
        if d.recommendation:
            out += rationale(d, open_=True)
        out.append("")
    return "\n".join(out)
