"""The PR body and the human summaries, from a plan.

Layout follows what a reviewer needs at a glance: what to watch out for, what changes (on which node,
from what usage), why, how it fits on each node, and what was left out and why. Every number comes
from the plan (the same values report.json holds), printed in one unit per column: CPU in millicores,
memory in MiB.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Iterable, Sequence

from bot.engine.plan import OUTSIDE_NAMESPACES, BLOCKED, OVER_CAP, REPORT_ONLY, SKIPPED, UNCHANGED, Decision, NodeReport, Plan
from bot.model import FIELDS, ResourceSpec
from bot.quantity import human, in_unit
from bot.report.chart import CHART_TITLE, node_charts
from bot.report.json_report import nodes_dicts

PR_BODY_LIMIT = 60_000
LABELS = {("requests", "cpu"): "CPU request", ("requests", "memory"): "memory request",
          ("limits", "cpu"): "CPU limit", ("limits", "memory"): "memory limit"}
COLUMNS = (("requests", "cpu"), ("limits", "cpu"), ("requests", "memory"), ("limits", "memory"))
UNIT = {"cpu": "m", "memory": "Mi"}
FIELD_OF = {"requests": "request", "limits": "limit"}
FLAG_STEPS = ("burst", "confidence", "bounds", "max step", "deadband", "restart guard", "OOM bump", "throttle guard", "no-downsize", "HPA", "pin", "QoS",
              "LimitRange", "opt-out", "VPA")
TAG_STEPS = {"max step": "step", "deadband": "deadband", "LimitRange": "LimitRange"}
RES_TITLE = {"cpu": "CPU", "memory": "memory"}


@dataclass(frozen=True)
class FileLines:
    """A changed file and the lines that changed, for the PR text."""

    path: str
    lines: tuple[int, ...]
    refs: tuple[str, ...] = ()


def code(text: str) -> str:
    """Inline code that a name from a snapshot cannot break out of (no backticks, no HTML)."""
    return "`" + escape(str(text).replace("`", "'"), quote=False) + "`"


def num(resource: str, value: int | None) -> str:
    """A value without its unit (the column header names it)."""
    return "—" if value is None else in_unit(resource, value)[: -len(UNIT[resource])]


def _pct(old: int | None, new: int | None) -> str:
    if old in (None, 0) or new is None:
        return ""
    return f"{(new - old) / old * 100:+.0f}%"


def _tags(d: Decision, kind: str, r: str) -> list[str]:
    rec = d.recommendation
    return list(dict.fromkeys(TAG_STEPS[s.name] for s in rec.steps if s.name in TAG_STEPS and s.resource == r and s.field in (FIELD_OF[kind], "both")))


def _cell(d: Decision, kind: str, r: str) -> str:
    rec = d.recommendation
    old, new = rec.current.get(kind, r), rec.proposed.get(kind, r)
    wanted = d.wanted.get(kind, r) if d.wanted else new
    tags = _tags(d, kind, r)
    if old == new:
        text = num(r, old) if old is not None else "·"
        if wanted != new:
            where = ", ".join(sorted({s.node for s in d.block.shortfalls if s.resource == r})) if d.block else ""
            text += f" (wants {num(r, wanted)}: no room {'in' if where.startswith('quota ') else 'on'} {where or 'its node'})"
        elif "deadband" in tags:
            text += " (deadband)"
        return text
    notes = [p for p in (_pct(old, new),) if p] + [t for t in tags if t != "deadband"]
    return f"{num(r, old)} → **{num(r, new)}**" + (f" ({', '.join(notes)})" if notes else "")


def usage_text(d: Decision) -> str:
    c = d.workload.container(d.container)
    if c is None:
        return "—"
    parts = []
    for r in ("cpu", "memory"):
        p = c.usage.get(r)
        if p is None:
            continue
        stat = d.policy.resource(r).percentile
        value = p.statistic(stat, c.usage.hourly(r))
        parts.append(f"{stat} not measured" if value is None else f"{stat} {in_unit(r, value * (1000 if r == 'cpu' else 1))}")
    return " / ".join(parts) + f" · {c.coverage_seconds / 86400:.0f}d" if parts else f"no data · {c.coverage_seconds / 86400:.0f}d"


def nodes_of(d: Decision) -> str:
    nodes = sorted({p.node for p in d.workload.pods if p.node})
    if not nodes:
        return "—"
    return ", ".join(nodes) if len(nodes) <= 2 else f"{len(nodes)} nodes"


def headline(d: Decision) -> str:
    """One line per decision: for each changed resource, the usage it was sized from and what shaped it."""
    rec = d.recommendation
    if rec is None:
        return d.reason
    changed = {r for _, r, _, _ in rec.current.diff(d.wanted or rec.proposed)}
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
            text = f"{RES_TITLE[r]} {label} {in_unit(r, basis.value)}"
        parts.append(text + (f" ({', '.join(flags)})" if flags else ""))
    if rec.urgent:
        c = d.workload.container(d.container)
        if c is not None:
            parts.insert(0, f"{c.restarts} restart(s), {c.oom_kills} OOM kill(s)")
    return "; ".join(parts)


def changes_table(decisions: Sequence[Decision]) -> list[str]:
    head = "| Workload | Container | Node | Usage (days of data) | " + " | ".join(f"{LABELS[f][0].upper() + LABELS[f][1:]} ({UNIT[f[1]]})" for f in COLUMNS) + " |"
    rows = [head, "|---|---|---|---|---:|---:|---:|---:|"]
    for d in decisions:
        rec = d.recommendation
        assert rec is not None
        flag = " 🚑" if rec.urgent else ""
        warn = " ⚠️" if rec.warnings else ""
        rows.append(f"| {code(d.workload.ref)}{flag}{warn} | {code(d.container)} | {nodes_of(d)} | {usage_text(d)} | "
                    + " | ".join(_cell(d, k, r) for k, r in COLUMNS) + " |")
    return rows


def compact_table(decisions: Sequence[Decision], limit: int | None = None) -> list[str]:
    """Waiting or report-only changes: the values they would get, in the order given (pick order)."""
    shown = decisions if limit is None else decisions[:limit]
    rows = ["| # | Container | " + " | ".join(f"{LABELS[f][0].upper() + LABELS[f][1:]} ({UNIT[f[1]]})" for f in COLUMNS) + " |",
            "|---:|---|---:|---:|---:|---:|"]
    for i, d in enumerate(shown, 1):
        rec = d.recommendation
        cells = []
        for k, r in COLUMNS:
            old, new = rec.current.get(k, r), rec.proposed.get(k, r)
            cells.append(num(r, old) if old == new and old is not None else "·" if old == new else f"{num(r, old)} → {num(r, new)}")
        rows.append(f"| {i} | {code(d.key)} | " + " | ".join(cells) + " |")
    if limit is not None and len(decisions) > limit:
        rows.append(f"| | … and {len(decisions) - limit} more (see report.json) | | | | |")
    return rows


def rationale(d: Decision, *, open_: bool = False) -> list[str]:
    rec = d.recommendation
    assert rec is not None
    summary = escape(headline(d) or "see steps", quote=False)
    out = [f"<details{' open' if open_ else ''}><summary><code>{escape(d.key, quote=False)}</code> — {summary}</summary>", ""]
    for w in rec.warnings:
        out.append(f"- ⚠️ **warning**: {w}")
    for s in rec.steps:
        if s.name == "warning":
            continue
        where = f"{RES_TITLE[s.resource]} {s.field}" if s.field in ("request", "limit") else RES_TITLE[s.resource]
        out.append(f"- **{where} · {s.name}**: {s.text}")
    for note in d.notes:
        out.append(f"- **selection**: {note}")
    diff = list(rec.current.diff(rec.proposed))
    if rec.target != rec.proposed and diff:
        targets = [f"{LABELS[(k, r)]} {in_unit(r, rec.target.get(k, r))}" for k, r, _, _ in diff if rec.target.get(k, r) != rec.proposed.get(k, r)]
        if targets:
            out.append(f"- **converging**: the long-run target is {', '.join(targets)}; later runs continue in steps")
    out.append(f"- **policy**: {' → '.join(d.policy.layers)}")
    out += ["", "</details>"]
    return out


def _use(v: int, total: int) -> str:
    return f"{v * 100 / total:.0f}%" if total else "—"


def node_table(nodes: Iterable[NodeReport], cluster: NodeReport) -> list[str]:
    rows = [
        "| Node | CPU allocatable (m) | CPU requests before → after (m) | CPU budget (m) | Memory allocatable (Mi) | Memory requests before → after (Mi) | Memory budget (Mi) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for n in list(nodes) + [cluster]:
        name = "**cluster**" if n.name == "cluster" else code(n.name)
        cells = []
        for r in ("cpu", "memory"):
            alloc, before, after, budget = n.allocatable.get(r) or 0, n.before.get(r) or 0, n.after.get(r) or 0, n.budget.get(r) or 0
            flag = " ⚠️" if after > budget else ""
            cells += [num(r, alloc), f"{num(r, before)} ({_use(before, alloc)}) → {num(r, after)} ({_use(after, alloc)}){flag}", num(r, budget)]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return rows


def quota_table(plan: Plan) -> list[str]:
    """ResourceQuota headroom, the namespace's budget: what it counts before and after this PR, against hard."""
    if not plan.quotas:
        return []
    rows = ["| ResourceQuota | Key | Used before → after | Hard |", "|---|---|---:|---:|"]
    for q in plan.quotas:
        r = q.key.split(".")[1]
        flag = " ⚠️" if q.after > q.hard else ""
        rows.append(f"| {code(q.namespace + '/' + q.name)} | {q.key} | {in_unit(r, q.before)} → {in_unit(r, q.after)}{flag} | {in_unit(r, q.hard)} |")
    return ["#### Quota headroom", ""] + rows + [""]


def over_budget_sentences(plan: Plan) -> list[str]:
    out = []
    for n in list(plan.nodes) + [plan.cluster]:
        for r in ("cpu", "memory"):
            after, budget, alloc = n.after.get(r) or 0, n.budget.get(r) or 0, n.allocatable.get(r) or 0
            if after > budget:
                who = "The cluster" if n.name == "cluster" else code(n.name)
                out.append(f"- {who} stays over its {RES_TITLE[r]} budget after this PR: {in_unit(r, after)} of "
                           f"{in_unit(r, budget)} ({_use(after, alloc)} of allocatable; {in_unit(r, after - budget)} over).")
    return out


def warnings_section(decisions: Sequence[Decision]) -> list[str]:
    items = [(d, w) for d in decisions if d.recommendation for w in d.recommendation.warnings]
    if not items:
        return []
    return ["### ⚠️ Review before merging", ""] + [f"- {code(d.key)}: {escape(w, quote=False)}" for d, w in items] + [""]


def _list(decisions: Sequence[Decision], limit: int | None = None) -> list[str]:
    shown = decisions if limit is None else decisions[:limit]
    out = [f"- {code(d.key)} — {escape(d.reason, quote=False)}" + _blocked_headline(d) for d in shown]
    if limit is not None and len(decisions) > limit:
        out.append(f"- … and {len(decisions) - limit} more (see report.json)")
    return out


def _blocked_headline(d: Decision) -> str:
    line = headline(d) if d.status == BLOCKED else ""
    return f" ({escape(line, quote=False)})" if line else ""


def policy_section(plan: Plan) -> list[str]:
    out = [
        "<details><summary>Policy in force</summary>",
        "",
        f"- policy files: {escape(plan.policy_source, quote=False)}",
        f"- window: {plan.window} (data collected {plan.collected_at})",
        f"- at most {plan.max_changes} changes per PR",
        f"- cluster budget: {in_unit('cpu', plan.cluster.budget.cpu)} CPU, {in_unit('memory', plan.cluster.budget.memory)} memory of requests",
    ]
    for n in plan.nodes:
        out.append(f"- {code(n.name)} budget: {in_unit('cpu', n.budget.cpu)} CPU ({_use(n.budget.cpu or 0, n.allocatable.cpu or 0)}), "
                   f"{in_unit('memory', n.budget.memory)} memory ({_use(n.budget.memory or 0, n.allocatable.memory or 0)}) of allocatable")
    policy = plan.policy
    if policy is not None:
        if policy.no_downsize:
            out.append("- no downsizes for: " + ", ".join(code(p) for p in policy.no_downsize))
        cp = policy.defaults_policy()
        for r in ("cpu", "memory"):
            rp = cp.resource(r)
            limit_down = f", limits −{rp.limit.max_decrease_percent:g}%" if rp.limit.max_decrease_percent is not None else ""
            need = "or" if rp.deadband_requires == "any" else "and"
            out.append(f"- {RES_TITLE[r]} (defaults): {rp.percentile} + {rp.margin:.0%}; a run moves at most "
                       f"+{rp.max_increase_percent:g}% / −{rp.max_decrease_percent:g}%{limit_down}; changes under "
                       f"{rp.deadband_percent:g}% {need} {in_unit(r, rp.deadband_absolute)} are not made"
                       + (" (per container: one material value moves all four)" if cp.deadband_scope == "container" else ""))
    return out + ["", "</details>"]


def files_section(files: Sequence[FileLines]) -> list[str]:
    if not files:
        return []
    out = ["### Files changed", ""]
    for f in files:
        lines = ", ".join(str(n) for n in f.lines)
        refs = f" ({', '.join(code(r) for r in f.refs)})" if f.refs else ""
        out.append(f"- {code(f.path)} line{'s' if len(f.lines) != 1 else ''} {lines}{refs}")
    return out + [""]


def _is_upsize(d: Decision) -> bool:
    rec = d.recommendation
    return bool(rec) and any(rec.proposed.effective_request(r) > rec.current.effective_request(r) for r in ("cpu", "memory"))


def summary_counts(plan: Plan) -> str:
    sel = plan.selected
    up = sum(1 for d in sel if _is_upsize(d))
    skipped = [d for d in plan.by_status(SKIPPED) if d.reason != OUTSIDE_NAMESPACES]
    return (
        f"{len(sel)} change(s) selected ({up} upsize(s), {len(sel) - up} downsize(s)); "
        f"{len(plan.by_status(BLOCKED))} blocked by capacity or quota, {len(plan.by_status(OVER_CAP))} waiting for a later PR, "
        f"{len(plan.by_status(REPORT_ONLY))} report-only, {len(skipped)} skipped, "
        f"{len(plan.by_status(UNCHANGED))} already right."
    )


# A change whose file the patch refused (its read-back failed) is taken out of the plan with this reason.
REFUSED_PREFIX = "could not patch "


def refused_lines(refused: Sequence[tuple[str, str]]) -> list[str]:
    """One line per refused file: which file, why, and the changes taken out with it (not in this PR)."""
    by_reason: dict[str, list[str]] = {}
    for ref, why in refused:
        by_reason.setdefault(why[len(REFUSED_PREFIX):], []).append(ref)
    return [f"- {escape(why, quote=False)} — taken out of this PR: {', '.join(code(r) for r in refs)}"
            for why, refs in by_reason.items()]


def render_pr_body(
    plan: Plan,
    files: Sequence[FileLines] = (),
    unmapped: Sequence[tuple[str, str]] = (),
    *,
    details_url: str | None = None,
    limit: int = PR_BODY_LIMIT,
    node_pool_note: str | None = None,
) -> str:
    """The PR description; trimmed (details first) to stay under ``limit`` characters."""
    return render_pr_bodies(plan, files, unmapped, details_url=details_url, limits=(limit,), node_pool_note=node_pool_note)[0]


def render_pr_bodies(
    plan: Plan,
    files: Sequence[FileLines] = (),
    unmapped: Sequence[tuple[str, str]] = (),
    *,
    details_url: str | None = None,
    limits: Sequence[int] = (PR_BODY_LIMIT,),
    node_pool_note: str | None = None,
) -> list[str]:
    """The description under each of ``limits`` characters (the PR's, the step summary's), each trimmed only as
    far as it must be; a render that fits several limits is made once (the untrimmed one is the largest)."""
    texts: dict[int, str] = {}
    text = ""
    for rationale_limit, list_limit in ((None, None), (40, 50), (10, 20), (0, 10), (0, 0)):
        text = _render(plan, files, unmapped, details_url, rationale_limit, list_limit, node_pool_note)
        for limit in limits:
            if limit not in texts and len(text) <= limit:
                texts[limit] = text
        if len(texts) == len(set(limits)):
            break
    return [texts.get(limit) or text[: limit - 200] + "\n\n… (truncated; the full report is in the run's step summary)\n"
            for limit in limits]


def _render(plan, files, unmapped, details_url, rationale_limit, list_limit, node_pool_note) -> str:
    sel = plan.selected
    out = ["## Rightsizer: resource changes", "", summary_counts(plan), ""]
    out += warnings_section(sel)
    over = over_budget_sentences(plan)
    if over:
        out += over + [""]
    if sel:
        out += ["### Changes", ""] + changes_table(sel) + [""]
        legend = ["step: the max step per run limited this value (later runs continue)"]
        if any(d.recommendation.urgent for d in sel):
            legend.insert(0, "🚑 memory upsize for a container that restarted or was OOM-killed: goes first")
        if any(s.name == "LimitRange" for d in sel for s in d.recommendation.steps):
            legend.append("LimitRange: held within the namespace's LimitRange (see *Why*)")
        if any(d.recommendation.warnings for d in sel):
            legend.append("⚠️ see *Review before merging*")
        out += ["; ".join(legend) + ".", ""]
        shown = sel if rationale_limit is None else sel[:rationale_limit]
        if shown:
            out += ["### Why", ""]
            for d in shown:
                out += rationale(d) + [""]
        if len(shown) < len(sel):
            out += [f"Rationale for {len(sel) - len(shown)} more change(s) is in report.json and the step summary" + (f" ({details_url})" if details_url else "") + ".", ""]
    out += files_section(files)
    out += ["### Node fit", ""] + node_table(plan.nodes, plan.cluster) + [""]
    out += quota_table(plan)
    out += [f"#### {CHART_TITLE}", "", node_charts({"nodes": nodes_dicts(plan.nodes)}), ""]
    if node_pool_note:
        out += [node_pool_note, ""]
    blocked = plan.by_status(BLOCKED)
    if blocked and list_limit != 0:
        out += ["### Blocked: does not fit", ""] + _list(blocked, list_limit) + [""]
    for title, status in (("Next time (over the per-PR cap), in the order a later run picks them", OVER_CAP), ("Report only", REPORT_ONLY)):
        items = plan.by_status(status)
        if items and list_limit != 0:
            out += [f"### {title}", ""] + compact_table(items, list_limit) + [""]
    skipped = [d for d in plan.by_status(SKIPPED) if d.reason != OUTSIDE_NAMESPACES and not d.reason.startswith(REFUSED_PREFIX)]
    if skipped and list_limit != 0:
        out += ["### Skipped", ""] + _list(skipped, list_limit) + [""]
    outside = [d for d in plan.by_status(SKIPPED) if d.reason == OUTSIDE_NAMESPACES]
    if outside:
        out += [f"{len(outside)} container(s) outside this run's namespaces were not sized; their pods still count in the node fit.", ""]
    right = plan.by_status(UNCHANGED)
    if right and list_limit != 0:
        names = [code(d.key) for d in right]
        cap = 30 if list_limit is None else list_limit
        out += ["### Already right", "", ", ".join(names[:cap]) + (f" and {len(names) - cap} more" if len(names) > cap else "") + ".", ""]
    refused = [(ref, why) for ref, why in unmapped if why.startswith(REFUSED_PREFIX)]
    unmapped = [(ref, why) for ref, why in unmapped if not why.startswith(REFUSED_PREFIX)]
    if refused:
        out += ["### Could not patch", ""] + refused_lines(refused) + [""]
    if unmapped:
        out += ["### Not found in Git", ""] + [f"- {code(ref)} — {escape(why, quote=False)}" for ref, why in (unmapped if list_limit is None else unmapped[: list_limit or 0])] + [""]
    if plan.unknown_nodes:
        out += [f"Pods on nodes missing from the snapshot were not counted: {', '.join(code(n) for n in plan.unknown_nodes)}.", ""]
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
            f"{LABELS[(k, r)]} {in_unit(r, a)} → {in_unit(r, b)}" for k, r, a, b in rec.current.diff(rec.proposed)
        )
        lines.append(f"  {'!' if rec.urgent else '+' if _is_upsize(d) else '-'} {d.key}: {changes}")
        lines.append(f"      why: {headline(d)}")
        for w in rec.warnings:
            lines.append(f"      warning: {w}")
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
        return f"No container matches {code(ref)} in this snapshot."
    out = []
    for d in hits:
        out.append(f"**{code(d.key)}**: {d.status}" + (f" — {escape(d.reason, quote=False)}" if d.reason else ""))
        if d.recommendation:
            out += rationale(d, open_=True)
        out.append("")
    return "\n".join(out)
