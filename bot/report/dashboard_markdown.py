"""The dashboard issue's text, and reading its checkboxes back.

Each checkbox carries a hidden id right after the box (``- [ ] <!-- rightsizer:skip=ns/wl/c -->``),
the way Renovate's Dependency Dashboard does, so the text around it may change freely.
Three kinds: ``include=<ref>`` (take an over-cap change into the next PR), ``skip=<ref>``
(leave a container alone) and ``recompute`` (run now). Pure: values in, text out.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from bot.engine.plan import BLOCKED, OVER_CAP, REPORT_ONLY, SELECTED, Decision, Plan
from bot.quantity import human
from bot.report.markdown import LABELS
from bot.report.posture import Posture, postures
from bot.report.savings import Prices, decision_change, money, total

MARKER = "<!-- rightsizer-dashboard -->"
STATE = "rightsizer-dashboard-state"
MAX_ITEMS = 40  # per section; the rest is in report.json (GitHub caps a body at 65,536 characters)
_REF = r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?"
_BOX = re.compile(r"^[ \t]*[-*] \[([ xX])\] <!-- rightsizer:(include|skip|recompute)(?:=(" + _REF + "/" + _REF + "/" + _REF + r"))? -->", re.M)
_STATE_RE = re.compile(r"<!--\s*" + STATE + r":\s*(\{.*?\})\s*-->", re.S)


@dataclass(frozen=True)
class Ignored:
    login: str
    box: str
    why: str


@dataclass(frozen=True)
class DashState:
    """What the bot remembers in the issue: the accepted requests and when it last wrote."""

    includes: tuple[str, ...] = ()
    skips: tuple[str, ...] = ()
    since: str = ""  # ISO time of the bot's last write: edits after it are new
    ignored: tuple[Ignored, ...] = ()  # the latest ticks that did not count, shown until the next change

    def ticked(self) -> set[str]:
        return {f"include={r}" for r in self.includes} | {f"skip={r}" for r in self.skips}

    def to_json(self) -> dict:
        return {"v": 1, "includes": list(self.includes), "skips": list(self.skips), "since": self.since,
                "ignored": [{"login": i.login, "box": i.box, "why": i.why} for i in self.ignored]}


def boxes(body: str | None) -> dict[str, bool]:
    """Box id (``include=ref``, ``skip=ref``, ``recompute``) → ticked, for every box in ``body``."""
    out = {}
    for m in _BOX.finditer(body or ""):
        key = m.group(2) + (f"={m.group(3)}" if m.group(3) else "")
        if (m.group(2) == "recompute") == (m.group(3) is None):
            out[key] = m.group(1) != " "
    return out


def parse_state(body: str | None) -> DashState:
    found = list(_STATE_RE.finditer(body or ""))
    if not found:
        return DashState()
    try:
        raw = json.loads(found[-1].group(1))
    except ValueError:
        return DashState()
    if not isinstance(raw, dict):
        return DashState()
    ref = re.compile(f"^{_REF}/{_REF}/{_REF}$")

    def refs(key: str) -> tuple[str, ...]:
        v = raw.get(key)
        return tuple(sorted({r for r in v if isinstance(r, str) and ref.match(r)})) if isinstance(v, list) else ()

    ignored = tuple(Ignored(str(i.get("login", ""))[:100], str(i.get("box", ""))[:300], str(i.get("why", ""))[:300])
                    for i in raw.get("ignored") or [] if isinstance(i, dict))[:20]
    since = raw.get("since") if isinstance(raw.get("since"), str) else ""
    return DashState(refs("includes"), refs("skips"), since, ignored)


def render_state(state: DashState) -> str:
    text = json.dumps(state.to_json(), sort_keys=True).replace("--", "-\\u002d").replace(">", "\\u003e")
    return f"<!-- {STATE}: {text} -->"


@dataclass(frozen=True)
class PullInfo:
    scope: str
    state: str  # open | paused | declined | closed | none
    number: int | None = None
    url: str | None = None


@dataclass
class DashboardView:
    plan: Plan
    prices: Prices
    state: DashState
    pool_notes: Sequence[str] = ()
    pulls: Sequence[PullInfo] = ()
    run_url: str | None = None
    updated: str = ""
    history: Sequence[str] = field(default_factory=tuple)  # verification/revert list items (verification_lines)


def pool_notes(report: Mapping[str, Any]) -> list[str]:
    """The node-pool status lines of report.json: each pool's summary, then pools that could not be read."""
    return [str(p["summary"]) for p in report.get("nodePools") or ()] + [str(e) for e in report.get("nodePoolErrors") or ()]


HISTORY_LINES = 20  # newest verdicts shown; `/rightsize explain <workload>` has a workload's whole history


def verification_lines(history: Iterable[Any], warnings: Iterable[str] = ()) -> list[str]:
    """Verification of merged changes as list items: degraded warnings first, then verdicts newest first."""
    from bot.engine.verify import history_lines

    # Verdicts are read back from merged PRs' bodies, which people can edit: one inert line each.
    rows = [_inert(r) for r in history_lines(history, "")]
    out = [f"- ⚠️ {_inert(w)}" for w in warnings] + rows[:HISTORY_LINES]
    if len(rows) > HISTORY_LINES:
        out.append(f"- … and {len(rows) - HISTORY_LINES} older verdicts")
    return out


def _moves(d: Decision) -> str:
    rec = d.recommendation
    if rec is None:
        return ""
    return ", ".join(f"{LABELS[(k, r)]} {human(r, a)} → {human(r, b)}" for k, r, a, b in rec.current.diff(d.wanted or rec.proposed))


def _box(kind: str, ref: str, ticked: bool, text: str, indent: str = "") -> str:
    return f"{indent}- [{'x' if ticked else ' '}] <!-- rightsizer:{kind}={ref} -->{text}"


def _pct_line(p: Posture, i: int) -> str:
    arrow = f"{p.percent('now', i):.0f}% → {p.percent('after_pr', i):.0f}% → {p.percent('after_pending', i):.0f}%"
    over = " ⚠️" if p.after_pending[i] > p.budget[i] else ""
    return f"{arrow} (budget {p.budget_percent(i):.0f}%){over}"


def posture_table(plan: Plan) -> list[str]:
    nodes, cluster = postures(plan)
    rows = ["| | CPU requests: now → after the PR → after all pending | Memory requests: now → after the PR → after all pending |",
            "|---|---|---|"]
    for p in [cluster, *nodes]:
        name = "**cluster**" if p is cluster else f"`{p.name}`"
        rows.append(f"| {name} | {_pct_line(p, 0)} | {_pct_line(p, 1)} |")
    return rows + ["", "_Percent of allocatable; ⚠️ = all pending recommendations together would exceed the budget._"]


def _section(title: str, items: Sequence[Decision], line) -> list[str]:
    if not items:
        return []
    out = [f"### {title}", ""]
    for d in items[:MAX_ITEMS]:
        out += line(d)
    if len(items) > MAX_ITEMS:
        out.append(f"- … and {len(items) - MAX_ITEMS} more (report.json has them all)")
    return out + [""]


def render(view: DashboardView) -> str:
    plan, prices, st = view.plan, view.prices, view.state
    includes, skips = set(st.includes), set(st.skips)
    cost = lambda d: money(decision_change(d, prices), prices.currency)  # noqa: E731
    out = [MARKER, "# Rightsizer dashboard", "",
           f"_Updated {view.updated}" + (f" by [this run]({view.run_url})" if view.run_url else "") + ". "
           "Tick a box to steer the next run; only ticks by people with write access count._", ""]
    out += ["## Budget posture", ""] + posture_table(plan) + [""]
    pending = [d for d in plan.decisions if d.status in (SELECTED, OVER_CAP, BLOCKED)]
    out += ["## Estimated cost", "",
            f"- the open PR: **{money(total(plan.selected, prices), prices.currency)}**",
            f"- all pending recommendations: **{money(total(pending, prices), prices.currency)}**", ""]

    def selected(d: Decision) -> list[str]:
        head = f"`{d.key}` — {_moves(d)} ({cost(d)})"
        lines = [_box("include", d.key, True, "included beyond the cap: " + head)] if d.key in includes else [f"- {head}"]
        return lines + [_box("skip", d.key, False, "skip this container", "  ")]

    def waiting(d: Decision) -> list[str]:
        return [_box("include", d.key, d.key in includes, f"include in the next PR: `{d.key}` — {_moves(d)} ({cost(d)})"),
                _box("skip", d.key, False, "skip this container", "  ")]

    def blocked(d: Decision) -> list[str]:
        lines = [f"- `{d.key}` — {_moves(d)} ({cost(d)}): {d.reason}"]
        lines += [f"  - {n}" for n in d.notes]
        return lines + [_box("skip", d.key, False, "skip this container", "  ")]

    out += ["## Pending recommendations", ""]
    out += _section("In the open PR", plan.selected, selected)
    out += _section("Next (over the per-PR cap)", plan.by_status(OVER_CAP), waiting)
    out += _section("Blocked: does not fit (the trade-off)", plan.by_status(BLOCKED), blocked)
    out += _section("Report only", plan.by_status(REPORT_ONLY), lambda d: [f"- `{d.key}` — {_moves(d)}: {d.reason}"])
    if not pending:
        out += ["Nothing pending: every container is within its policy's thresholds.", ""]
    if skips:
        out += ["### Skipped from this issue", ""] + [_box("skip", r, True, f"skip `{r}` (untick to size it again)") for r in sorted(skips)] + [""]
    out += ["## Node pools", ""] + ([f"- {n}" for n in view.pool_notes] or ["- no node pools configured (`nodePools` in the policy)"]) + [""]
    out += ["## Open Rightsizer PRs", ""]
    shown = [p for p in view.pulls if p.number and p.state in ("open", "paused")]
    out += [f"- #{p.number} `{p.scope}`: {p.state}" for p in shown] or ["- none"]
    out += [""]
    if view.history:
        out += ["## Verification and reverts", ""] + list(view.history) + [""]
    if st.ignored:
        out += ["## Ticks that did not count", ""]
        out += [f"- @{_login(i.login)}: {_plain(i.box)} — {_plain(i.why)}; the box was reset." for i in st.ignored] + [""]
    out += ["---", "- [ ] <!-- rightsizer:recompute -->recompute now", "",
            "<details><summary>How this issue works</summary>", "",
            "Rightsizer keeps this one issue up to date on every run. *Include in the next PR* takes a change "
            "beyond the per-PR cap; *skip this container* leaves it alone until you untick it; *recompute now* "
            "runs the job at once (with the workflow's `issues: edited` trigger). Rightsizer checks who changed "
            "each box through GitHub's issue events and counts it only for people with write access; other ticks "
            "are reset and listed above. Turn the issue off with `dashboard: {enabled: false}` in the policy.",
            "", "</details>", "", render_state(st)]
    return "\n".join(out) + "\n"


def _plain(text: str) -> str:
    """Text read back from the (editable) issue, made inert: no HTML, no code spans, one line."""
    return _inert(text).replace("`", "'")


def _inert(text: str) -> str:
    """Markdown kept, but no HTML (so no hidden box or marker) and one line."""
    return " ".join(text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").split())


def _login(login: str) -> str:
    return re.sub(r"[^A-Za-z0-9\-\[\]]", "", login)[:60] or "unknown"


def comparable(body: str | None) -> str:
    """The body without what changes on every run (time, run link, the bot's own bookkeeping time)."""
    text = re.sub(r"^_Updated .*$", "", (body or "").replace("\r\n", "\n"), flags=re.M)
    return re.sub(r'"since": "[^"]*"', "", text).rstrip()


def box_label(box: str) -> str:
    kind, _, ref = box.partition("=")
    return {"include": f"include {ref} in the next PR", "skip": f"skip {ref}", "recompute": "recompute now"}.get(kind, box)


def accepted_value(state: DashState, box: str) -> bool:
    return box in state.ticked()


def flips(state: DashState, body: str | None) -> dict[str, bool]:
    """Boxes whose state in ``body`` differs from what the bot last wrote."""
    ticked = state.ticked()
    return {b: v for b, v in boxes(body).items() if v != (b in ticked)}


def apply_flips(state: DashState, accepted: Mapping[str, bool], ignored: Iterable[Ignored]) -> DashState:
    inc, skip = set(state.includes), set(state.skips)
    for box, on in accepted.items():
        kind, _, ref = box.partition("=")
        target = inc if kind == "include" else skip if kind == "skip" else None
        if target is not None:
            (target.add if on else target.discard)(ref)
    return DashState(tuple(sorted(inc)), tuple(sorted(skip)), state.since, tuple(ignored) or state.ignored)
