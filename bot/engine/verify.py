"""After a merge: did our change hurt? Pure decisions on measured values (no I/O).

Inputs are dataclasses: what a merged Rightsizer PR changed (``ChangeRecord``), when the new
values first ran (``rollout_at``) and the container's health in two windows of equal length
before and after the rollout (``Health``). Outputs: a ``Verdict`` per container, the back-offs
the history implies, and the "policy too aggressive here" warnings.

The bar is Attune's safety monitor for in-place resizes: revert on an OOM kill, CPU throttling
over 50 %, two or more restarts, or a lost Ready condition. A signal counts only when it is worse
after than before, so trouble the container already had is not blamed on our change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from bot.duration import parse_duration
from bot.model import FIELDS, HelmReleaseRef, Resources, ResourceSpec
from bot.quantity import human

OK, REGRESSED, NOT_ROLLED_OUT, PENDING = "ok", "regressed", "not-rolled-out", "pending"
FINAL = (REGRESSED,)  # a regression is never re-judged; the others are looked at again each run


@dataclass(frozen=True)
class Settings:
    """The policy's ``verify:`` section (defaults: Attune's thresholds)."""

    enabled: bool = True
    window: int = 7 * 86400  # how far back merged PRs are verified
    settle: int = 600  # the rollout itself (pods replaced) is not judged
    min_observation: int = 3600  # less than this after the rollout: too early to judge
    revert_on_oom: bool = True
    max_throttling: float = 0.5
    max_restarts: int = 2  # this many restarts after the rollout (and more than before) revert
    revert_on_lost_ready: bool = True
    cooldown: int = 7 * 86400  # base back-off after a revert
    backoff_cap: int = 16  # the back-off doubles with each revert, up to cooldown × this
    degraded_reverted: int = 3  # warn when this many …
    degraded_of: int = 5  # … of the last this many verified changes were reverted


def settings_from_policy(raw: Mapping[str, Any] | None) -> Settings:
    """``verify:`` of the merged policy document (already schema-checked) → Settings."""
    raw = raw or {}
    d = Settings()
    th = raw.get("thresholds") or {}
    deg = raw.get("degraded") or {}

    def dur(key: str, default: int) -> int:
        return parse_duration(raw[key]) if key in raw else default

    return Settings(
        enabled=bool(raw.get("enabled", d.enabled)),
        window=dur("window", d.window),
        settle=dur("settle", d.settle),
        min_observation=dur("minObservation", d.min_observation),
        revert_on_oom=bool(th.get("oomKill", d.revert_on_oom)),
        max_throttling=float(th.get("throttling", d.max_throttling)),
        max_restarts=int(th.get("restarts", d.max_restarts)),
        revert_on_lost_ready=bool(th.get("lostReady", d.revert_on_lost_ready)),
        cooldown=dur("cooldown", d.cooldown),
        backoff_cap=int(raw.get("backoffCap", d.backoff_cap)),
        degraded_reverted=int(deg.get("reverted", d.degraded_reverted)),
        degraded_of=int(deg.get("of", d.degraded_of)),
    )


# --- what was changed ------------------------------------------------------------------

@dataclass(frozen=True)
class ChangeRecord:
    """One container as a Rightsizer PR changed it: enough to find its pods and to undo it."""

    namespace: str
    kind: str
    workload: str
    container: str
    old: ResourceSpec
    new: ResourceSpec
    helm_release: HelmReleaseRef | None = None
    init: bool = False

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.workload}/{self.container}"

    @property
    def workload_ref(self) -> str:
        return f"{self.namespace}/{self.workload}"

    def moves(self) -> tuple[tuple[str, str, str], ...]:
        """(kind, resource, up|down) per changed field; adding a limit tightens (down), removing one loosens."""
        out = []
        for kind, resource, a, b in self.old.diff(self.new):
            if a is None:
                direction = "down" if kind == "limits" else "up"
            elif b is None:
                direction = "up" if kind == "limits" else "down"
            else:
                direction = "down" if b < a else "up"
            out.append((kind, resource, direction))
        return tuple(out)

    def rollout_probe(self) -> tuple[str, str, int] | None:
        """A field whose new value tells the new pods apart: (kind, resource, value), requests first."""
        for kind, resource in FIELDS:
            a, b = self.old.get(kind, resource), self.new.get(kind, resource)
            if a != b and b is not None:
                return kind, resource, b
        return None


def spec_to_json(spec: ResourceSpec) -> dict[str, dict[str, int]]:
    return {kind: {r: v for r in ("cpu", "memory") if (v := getattr(spec, kind).get(r)) is not None}
            for kind in ("requests", "limits")}


def spec_from_json(raw: Any) -> ResourceSpec:
    raw = raw if isinstance(raw, Mapping) else {}

    def res(kind: str) -> Resources:
        part = raw.get(kind) if isinstance(raw.get(kind), Mapping) else {}
        vals = {r: part.get(r) for r in ("cpu", "memory")}
        return Resources(**{r: v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None
                            for r, v in vals.items()})

    return ResourceSpec(res("requests"), res("limits"))


def change_to_json(c: ChangeRecord) -> dict[str, Any]:
    out: dict[str, Any] = {"ref": c.ref, "kind": c.kind, "old": spec_to_json(c.old), "new": spec_to_json(c.new)}
    if c.helm_release:
        out["helm"] = [c.helm_release.name, c.helm_release.namespace]
    if c.init:
        out["init"] = True
    return out


def change_from_json(raw: Any, valid_ref: Any) -> ChangeRecord | None:
    """None for anything malformed (the state is editable by people)."""
    if not isinstance(raw, Mapping) or not isinstance(raw.get("ref"), str) or not valid_ref(raw["ref"]):
        return None
    ns, workload, container = raw["ref"].split("/")
    helm = raw.get("helm")
    helm_ref = (HelmReleaseRef(str(helm[0]), str(helm[1]))
                if isinstance(helm, list) and len(helm) == 2 and all(isinstance(h, str) for h in helm) else None)
    kind = raw.get("kind") if isinstance(raw.get("kind"), str) and raw.get("kind", "").isalpha() else "Deployment"
    return ChangeRecord(ns, kind, workload, container, spec_from_json(raw.get("old")), spec_from_json(raw.get("new")),
                        helm_ref, raw.get("init") is True)


# --- what happened ---------------------------------------------------------------------

@dataclass(frozen=True)
class Health:
    """One container of one workload over one window (all its pods together)."""

    oom_kills: int = 0
    restarts: int = 0
    throttling: float | None = None  # throttled / total CFS periods
    ready_losses: int = 0  # Ready went from true to false
    unavailable: float | None = None  # most unavailable replicas seen (Deployments)
    memory_peak: float | None = None  # bytes
    cpu_peak: float | None = None  # cores


@dataclass(frozen=True)
class Observation:
    change: ChangeRecord
    rollout_at: float | None
    before: Health | None = None
    after: Health | None = None
    window: int = 0  # seconds in each of the two windows


def windows(merged_at: float, rollout_at: float, now: float, s: Settings) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """(before, after) as (start, end) of equal length; None when the after window is still too short.
    The swap of the pods (``settle`` either side of the rollout) belongs to neither window."""
    start_after = rollout_at + s.settle
    length = min(now - start_after, s.window)
    if length < s.min_observation:
        return None
    end_before = rollout_at - s.settle
    return (end_before - length, end_before), (start_after, start_after + length)


@dataclass(frozen=True)
class Verdict:
    ref: str
    status: str  # ok | regressed | not-rolled-out | pending
    reasons: tuple[str, ...] = ()
    moves: tuple[tuple[str, str, str], ...] = ()
    rollout_at: float | None = None


def judge(obs: Observation, merged_at: float, now: float, s: Settings) -> Verdict:
    c = obs.change
    if obs.rollout_at is None:
        if now - merged_at < s.min_observation + s.settle:
            return Verdict(c.ref, PENDING, ("merged moments ago; waiting for the rollout",), c.moves())
        return Verdict(c.ref, NOT_ROLLED_OUT, (
            f"merged {_ago(now - merged_at)} ago but no pod ran with the new values: is Flux reconciling?",), c.moves())
    if obs.before is None or obs.after is None:
        return Verdict(c.ref, PENDING, ("rolled out too recently to judge",), c.moves(), obs.rollout_at)
    reasons = regressions(obs.before, obs.after, s)
    return Verdict(c.ref, REGRESSED if reasons else OK, reasons, c.moves(), obs.rollout_at)


def regressions(before: Health, after: Health, s: Settings) -> tuple[str, ...]:
    """Why the after window is worse than the before window, per Attune's thresholds."""
    out = []
    if s.revert_on_oom and after.oom_kills > before.oom_kills:
        out.append(f"OOM kills: {before.oom_kills} before → {after.oom_kills} after")
    if (after.throttling is not None and after.throttling > s.max_throttling
            and (before.throttling is None or after.throttling > before.throttling)):
        out.append(f"CPU throttling: {_pct(before.throttling)} before → {_pct(after.throttling)} after "
                   f"(threshold {_pct(s.max_throttling)})")
    if after.restarts >= s.max_restarts and after.restarts > before.restarts:
        out.append(f"restarts: {before.restarts} before → {after.restarts} after (threshold {s.max_restarts})")
    if s.revert_on_lost_ready and after.ready_losses > before.ready_losses:
        out.append(f"lost Ready: {before.ready_losses} time(s) before → {after.ready_losses} after")
    return tuple(out)


def usage_lines(obs: Observation) -> list[str]:
    """Usage after the rollout against the new request and limit (evidence, not a trigger)."""
    a, new = obs.after, obs.change.new
    if a is None:
        return []
    out = []
    for resource, peak, scale in (("memory", a.memory_peak, 1), ("cpu", a.cpu_peak, 1000)):
        if peak is None:
            continue
        value = round(peak * scale)
        parts = [f"peak {human(resource, value)}"]
        for kind in ("requests", "limits"):
            v = new.get(kind, resource)
            if v:
                parts.append(f"{100 * value / v:.0f}% of the new {kind[:-1]} {human(resource, v)}")
        out.append(f"{resource}: " + ", ".join(parts))
    return out


# --- memory: back-off and degraded -------------------------------------------------------

@dataclass(frozen=True)
class Record:
    """One verified change in the history (kept in the merged PR's state)."""

    ref: str
    pr: int
    status: str
    at: float  # when this status was first seen
    moves: tuple[tuple[str, str, str], ...] = ()
    reasons: tuple[str, ...] = ()
    revert_pr: int = 0

    @property
    def workload_ref(self) -> str:
        return self.ref.rsplit("/", 1)[0]

    @property
    def namespace(self) -> str:
        return self.ref.split("/", 1)[0]


@dataclass(frozen=True)
class Backoff:
    ref: str
    resource: str
    direction: str
    until: float
    reverts: int
    pr: int  # the PR whose change was reverted last

    def reason(self) -> str:
        return (f"back-off after {self.reverts} revert(s) (latest: #{self.pr}): no {self.resource} "
                f"{'downsize' if self.direction == 'down' else 'upsize'} until {_utc(self.until)}")


def backoffs(history: Iterable[Record], s: Settings) -> list[Backoff]:
    """Per (container, resource, direction) that was reverted: blocked for cooldown × 2ⁿ⁻¹ after the
    latest revert, n = reverts so far (1×, 2×, 4×, … capped at ``backoff_cap``×)."""
    seen: dict[tuple[str, str, str], list[Record]] = {}
    for r in history:
        if r.status != REGRESSED:
            continue
        for resource, direction in sorted({(res, d) for _k, res, d in r.moves}):
            seen.setdefault((r.ref, resource, direction), []).append(r)
    out = []
    for (ref, resource, direction), recs in sorted(seen.items()):
        latest = max(recs, key=lambda r: r.at)
        factor = min(2 ** (len(recs) - 1), s.backoff_cap)
        out.append(Backoff(ref, resource, direction, latest.at + s.cooldown * factor, len(recs), latest.pr))
    return out


@dataclass(frozen=True)
class Holds:
    """What the next resources plan must leave alone: back-offs (by direction) and pending reverts."""

    backoffs: tuple[Backoff, ...] = ()
    pending: Mapping[str, str] = field(default_factory=dict)  # ref → why (a revert PR is open)

    def reason(self, ref: str, moves: Sequence[tuple[str, str, str]], now: float) -> str | None:
        if ref in self.pending:
            return self.pending[ref]
        for b in self.backoffs:
            if b.ref == ref and now < b.until and any(res == b.resource and d == b.direction for _k, res, d in moves):
                return b.reason()
        return None

    def held(self, proposals: Iterable[tuple[str, Sequence[tuple[str, str, str]]]], now: float) -> dict[str, str]:
        out = {}
        for ref, moves in proposals:
            why = self.reason(ref, moves, now)
            if why:
                out[ref] = why
        return out


def moves_between(old: ResourceSpec, new: ResourceSpec) -> tuple[tuple[str, str, str], ...]:
    return ChangeRecord("", "", "", "", old, new).moves()


@dataclass(frozen=True)
class Degraded:
    scope: str  # namespace | workload
    name: str
    reverted: int
    of: int
    resources: tuple[str, ...]

    def text(self) -> str:
        knobs = []
        where = f"namespaces.{self.name}" if self.scope == "namespace" else \
            f"a `workloads:` rule matching {self.name}"
        if "memory" in self.resources:
            knobs.append(f"raise `memory.margin` or lower `memory.maxDecreasePercent` in {where}")
        if "cpu" in self.resources:
            knobs.append(f"raise `cpu.margin` or lower `cpu.maxDecreasePercent` in {where}")
        return (f"{self.reverted} of the last {self.of} changes in {self.scope} `{self.name}` were reverted: "
                f"the policy is too aggressive there. Suggestion: " + "; or ".join(knobs or [f"loosen the policy in {where}"]) + ".")


def degraded(history: Iterable[Record], s: Settings) -> list[Degraded]:
    """Namespaces and workloads where ``degraded_reverted`` of the last ``degraded_of`` judged changes regressed."""
    judged = sorted((r for r in history if r.status in (OK, REGRESSED)), key=lambda r: (r.at, r.pr, r.ref))
    out = []
    for scope, key in (("workload", lambda r: r.workload_ref), ("namespace", lambda r: r.namespace)):
        groups: dict[str, list[Record]] = {}
        for r in judged:
            groups.setdefault(key(r), []).append(r)
        for name, recs in sorted(groups.items()):
            last = recs[-s.degraded_of:]
            bad = [r for r in last if r.status == REGRESSED]
            if len(bad) >= s.degraded_reverted:
                resources = tuple(sorted({res for r in bad for _k, res, d in r.moves if d == "down"}))
                out.append(Degraded(scope, name, len(bad), len(last), resources))
    return out


def history_lines(history: Iterable[Record], prefix: str) -> list[str]:
    """The verification history of one workload (or container), newest first, for `/rightsize explain`;
    an empty prefix: every container's (the dashboard issue)."""
    want = prefix.rstrip("/")
    rows = sorted((r for r in history if not want or r.ref == want or r.ref.startswith(want + "/")), key=lambda r: -r.at)
    out = []
    for r in rows:
        moves = ", ".join(f"{k[:-1]} {res} {d}" for k, res, d in r.moves) or "no field"
        line = f"- {_utc(r.at)} `{r.ref}` (#{r.pr}: {moves}): **{r.status}**"
        if r.reasons:
            line += " — " + "; ".join(r.reasons)
        if r.revert_pr:
            line += f" → revert #{r.revert_pr}"
        out.append(line)
    return out


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.0f}%"


def _ago(seconds: float) -> str:
    return f"{seconds / 86400:.1f}d" if seconds >= 86400 else f"{seconds / 3600:.1f}h"


def _utc(epoch: float) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
