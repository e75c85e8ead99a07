"""Watching merged changes and reverting the ones that hurt, as a PR on ``rightsizer/revert``.

Where the memory lives (documented in docs/verify.md): every resources PR records, in its hidden
state, each container's values before and after. After the merge, each run writes the latest
verdict per container (and the merge commit) back into that merged PR's state. Merged PR bodies
outlive their branches (GitHub deletes the branch, never the PR), anyone can read them with
*Edit*, and the history is simply the bot's merged PRs, newest first. Back-offs and the degraded
warning are derived from those records every run; nothing else is stored.

The revert PR itself is published like the resources PR (``publish.publish`` with scope
``revert``): one commit, kept up to date, closed with a comment when nothing regressed any more.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

from github.PullRequest import PullRequest

from bot.engine import verify as v
from bot.github import state as prstate
from bot.github.publish import Published, Target, branch_for, close_stale, find_pull, is_ours, post_once, publish
from bot.model import ContainerChange
from bot.pipeline import PullRequestDraft
from bot.policy import Overrides, Policy
from bot.quantity import human

SCOPE = "revert"
HISTORY_PULLS = 50  # merged resources PRs read for the history (newest first)

Observe = Callable[[v.ChangeRecord, float, float], v.Observation]  # (change, merged_at, now) → observation


@dataclass
class MergedPull:
    pr: PullRequest
    merged_at: float
    state: prstate.PrState


@dataclass
class Regression:
    pull: MergedPull
    change: v.ChangeRecord
    verdict: v.Verdict
    obs: v.Observation | None


@dataclass
class VerifyOutcome:
    history: list[v.Record] = field(default_factory=list)
    holds: v.Holds = field(default_factory=v.Holds)
    degraded: list[v.Degraded] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # not rolled out, already restored, …
    published: Published | None = None
    regressions: list[Regression] = field(default_factory=list)
    verdicts: list[tuple[int, v.Verdict]] = field(default_factory=list)

    def warnings(self) -> list[str]:
        return [d.text() for d in self.degraded]

    def priority_note(self) -> str:
        """Top-of-body note for the resources PR: a memory revert goes first."""
        p = self.published
        memory = [r.change.ref for r in self.regressions
                  if any(res == "memory" and d == "down" for _k, res, d in r.change.moves())]
        if not memory or p is None or not p.pr_number or p.action in ("closed", "none", "declined"):
            return ""
        refs = ", ".join(f"`{ref}`" for ref in memory)
        return (f"> [!IMPORTANT]\n> Merge revert #{p.pr_number} first: it restores the memory of {refs} after "
                f"a memory cut hurt. This PR leaves those containers alone until then.\n\n")

    def report(self) -> dict[str, Any]:
        return {
            "verdicts": [{"pr": pr, "ref": vd.ref, "status": vd.status, "reasons": list(vd.reasons)}
                         for pr, vd in self.verdicts],
            "backoffs": [{"ref": b.ref, "resource": b.resource, "direction": b.direction,
                          "until": v._utc(b.until), "reverts": b.reverts} for b in self.holds.backoffs],
            "degraded": self.warnings(),
            "notes": list(self.notes),
            "revert": ({"action": self.published.action, "pr": self.published.pr_number}
                       if self.published else None),
        }

    def annotate(self, result: Any) -> None:
        """Put the verification into the pipeline's report, step summary, warnings and resources PR."""
        if isinstance(getattr(result, "report", None), dict):
            result.report["verification"] = self.report()
        text = self.summary()
        if text and isinstance(getattr(result, "step_summary", None), str):
            result.step_summary += "\n" + text
        if isinstance(getattr(result, "warnings", None), list):
            result.warnings.extend(self.warnings())
        top = self.priority_note() + "".join(f"> [!WARNING]\n> {w}\n\n" for w in self.warnings())
        for draft in getattr(result, "drafts", None) or []:
            if draft.scope == "resources" and top:
                draft.body = top + draft.body

    def summary(self) -> str:
        if not (self.verdicts or self.notes or self.degraded):
            return ""
        lines = ["### Verification of merged changes", ""]
        lines += [f"- #{pr} `{vd.ref}`: **{vd.status}**" + (f" — {'; '.join(vd.reasons)}" if vd.reasons else "")
                  for pr, vd in self.verdicts]
        lines += [f"- {n}" for n in self.notes]
        lines += [f"- ⚠️ {w}" for w in self.warnings()]
        return "\n".join(lines) + "\n"


# --- reading the history ---------------------------------------------------------------

def _epoch(when: Any) -> float:
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp()


def merged_pulls(target: Target, limit: int = HISTORY_PULLS) -> list[MergedPull]:
    """The bot's merged resources PRs, newest first (closed unmerged ones carry no change)."""
    owner = target.repo.owner.login
    out: list[MergedPull] = []
    seen = 0
    for pr in target.repo.get_pulls(state="closed", head=f"{owner}:{branch_for('resources')}", base=target.base,
                                    sort="created", direction="desc"):
        seen += 1
        if seen > limit:
            break
        if pr.merged_at is None or not is_ours(pr.user, target.bot_login):
            continue
        out.append(MergedPull(pr, _epoch(pr.merged_at), prstate.parse(pr.body)))
    return out


def history_of(pulls: Iterable[MergedPull]) -> list[v.Record]:
    return [r for p in pulls for r in p.state.verification]


def explain_history(target: Target, ref: str) -> str:
    """`/rightsize explain` appendix: what verification found for this workload."""
    lines = v.history_lines(history_of(merged_pulls(target)), ref)
    if not lines:
        return f"\n\n### Verification history\n\nNo merged Rightsizer change to `{ref}` was verified yet."
    return "\n\n### Verification history (newest first)\n\n" + "\n".join(lines)


# --- one verification run ----------------------------------------------------------------

def verify_merged_with(target: Target, repo_dir: Path, policy_path: str | None, snapshot: Any,
                       prometheus: Any, cluster: tuple[str, str] | None, *, write: bool) -> VerifyOutcome | None:
    """The Session's entry point: settings from the policy, ``now`` = the snapshot's collection time.
    Without a Prometheus client (a run from a snapshot file) nothing is measured, but the history
    still yields the back-offs, the pending reverts and the degraded warning."""
    from bot.policy import load_policy
    from bot.sources import verify as measure

    policy = load_policy(repo_dir, policy_path)
    settings = v.settings_from_policy(policy.raw.get("verify"))
    if not settings.enabled:
        return None
    now = now_of(snapshot.collected_at)
    if prometheus is None:
        return remembered(target, settings)

    def observe(change: v.ChangeRecord, merged_at: float, at: float) -> v.Observation:
        return measure.observe(prometheus, change, merged_at, at, settings, cluster)

    from bot.sources.prometheus import SourceError

    try:
        return verify_merged(target, observe, settings, now, repo_dir, policy, write=write)
    except SourceError as exc:
        # No verdict on half the data; the resources PR still goes out, with the remembered holds.
        out = remembered(target, settings)
        out.notes.append(f"verification skipped this run: {exc}")
        return out


def remembered(target: Target, settings: v.Settings) -> VerifyOutcome:
    """What the history alone says: back-offs, degraded warnings, and the containers an open revert PR restores."""
    out = VerifyOutcome(history=history_of(merged_pulls(target)))
    out.degraded = v.degraded(out.history, settings)
    pending: dict[str, str] = {}
    pr = find_pull(target, SCOPE, "open")
    if pr is not None:
        pending = {c.ref: f"revert #{pr.number} is open: merge it first" for c in prstate.parse(pr.body).changes}
    out.holds = v.Holds(tuple(v.backoffs(out.history, settings)), pending)
    return out


def verify_merged(target: Target, observe: Observe, settings: v.Settings, now: float, repo_dir: Path,
                  policy: Policy, *, write: bool = True) -> VerifyOutcome:
    """Judge every change merged within ``settings.window``, record the verdicts in the merged
    PRs, open/update/close the revert PR, and derive the holds for the next resources plan."""
    out = VerifyOutcome()
    pulls = merged_pulls(target)
    updates: dict[int, list[v.Record]] = {}
    for pull in pulls:
        if now - pull.merged_at > settings.window:
            out.regressions += _older_regressions(pull, observe, now)
            continue
        if not pull.state.changes:
            continue
        known = {r.ref: r for r in pull.state.verification}
        records = []
        for change in pull.state.changes:
            obs = observe(change, pull.merged_at, now)
            verdict = v.judge(obs, pull.merged_at, now, settings)
            old = known.get(change.ref)
            if old is not None and old.status in v.FINAL:
                verdict = replace(verdict, status=old.status, reasons=old.reasons)
            out.verdicts.append((pull.pr.number, verdict))
            if verdict.status == v.NOT_ROLLED_OUT:
                out.notes.append(f"#{pull.pr.number} `{change.ref}`: {verdict.reasons[0]}")
            if verdict.status == v.REGRESSED:
                out.regressions.append(Regression(pull, change, verdict, obs))
            if verdict.status == v.PENDING:
                if old is not None:
                    records.append(old)
                continue
            same = old is not None and old.status == verdict.status
            records.append(v.Record(change.ref, pull.pr.number, verdict.status, old.at if same else now,
                                    verdict.moves, verdict.reasons if verdict.status != v.OK else (),
                                    old.revert_pr if old is not None else 0))
        updates[pull.pr.number] = records

    # Back-offs and the degraded warning include this run's verdicts.
    out.history = [r for p in pulls for r in (updates.get(p.pr.number) or p.state.verification)]
    out.degraded = v.degraded(out.history, settings)
    draft, restorable, notes = revert_draft(out.regressions, repo_dir, policy, out.warnings())
    out.notes += notes
    if write:
        if draft is not None:
            out.published = publish(target, draft, None, Overrides())
        else:
            out.published = close_stale(target, SCOPE, "no merged change regressed, or every regression is restored already")
    revert_no = out.published.pr_number if out.published and out.published.action not in ("closed", "none") else 0
    if revert_no:
        out.holds = replace(out.holds, pending={r.change.ref: f"revert #{revert_no} is open: merge it first"
                                                for r in restorable})
    for pull in pulls:
        records = updates.get(pull.pr.number)
        if records is None:
            continue
        mine = {g.change.ref for g in restorable if g.pull is pull}
        if revert_no:
            records = [replace(r, revert_pr=r.revert_pr or revert_no) if r.status == v.REGRESSED and r.ref in mine else r
                       for r in records]
        pull.state = replace(pull.state, verification=tuple(records),
                             merge_commit=pull.state.merge_commit or (pull.pr.merge_commit_sha or ""))
        if write:
            _save(pull)
            for g in restorable:
                if g.pull is pull and revert_no:
                    post_once(pull.pr, "regressed", f"{g.change.ref}@{revert_no}",
                              f"After this PR was merged, `{g.change.ref}` did worse "
                              f"({'; '.join(g.verdict.reasons)}). Revert #{revert_no} restores its previous values.")
    out.history = history_of(pulls)
    out.holds = replace(out.holds, backoffs=tuple(v.backoffs(out.history, settings)))
    return out


def _older_regressions(pull: MergedPull, observe: Observe, now: float) -> list[Regression]:
    """Regressions found in earlier runs of a PR now outside the window: still restored while their
    lines hold our values (a verdict is final). Their windows have reached full length, so the
    evidence measured again is the same as last run's."""
    changes = {c.ref: c for c in pull.state.changes}
    return [Regression(pull, changes[r.ref], v.Verdict(r.ref, r.status, r.reasons, r.moves),
                       observe(changes[r.ref], pull.merged_at, now))
            for r in pull.state.verification if r.status == v.REGRESSED and r.ref in changes]


def _save(pull: MergedPull) -> None:
    """Write the state back only when it changed (no edit per run for nothing)."""
    old = prstate.parse(pull.pr.body)
    if old.verification == pull.state.verification and old.merge_commit == pull.state.merge_commit:
        return
    pull.pr.edit(body=prstate.strip(pull.pr.body or "") + "\n\n" + prstate.render(pull.state) + "\n")


# --- the revert PR -------------------------------------------------------------------------

def revert_draft(regressions: list[Regression], repo_dir: Path, policy: Policy,
                 warnings: Iterable[str] = ()) -> tuple[PullRequestDraft | None, list[Regression], list[str]]:
    """The files restoring exactly the regressed containers' previous values (GitOps line edits),
    the regressions it restores, and notes on the ones it cannot or need not restore."""
    from bot import gitops
    from bot.gitops.patch import read_spec
    from bot.gitops.yamldoc import parse_documents

    notes: list[str] = []
    if not regressions:
        return None, [], notes
    # The newest regression per container wins (a container changed twice is restored once).
    latest: dict[str, Regression] = {}
    for g in sorted(regressions, key=lambda g: g.pull.merged_at):
        latest[g.change.ref] = g
    changes = {ref: ContainerChange(g.change.namespace, g.change.kind, g.change.workload, g.change.container,
                                    current=g.change.new, proposed=g.change.old, init=g.change.init,
                                    helm_release=g.change.helm_release)
               for ref, g in latest.items()}
    inventory = gitops.discover(repo_dir, gitops.config_from_policy(policy.gitops), lazy=True)
    mapping = gitops.map_changes(inventory, list(changes.values()))
    for change, why in mapping.unmapped:
        notes.append(f"`{change.ref}` regressed but cannot be restored automatically: {why}")
    keep = []
    for change, target in mapping.mapped:
        text = (Path(repo_dir) / target.file).read_text(encoding="utf-8")
        have = read_spec(parse_documents(text)[target.doc], target.block)
        fields = change.changed_fields()
        if all(have[(k, r)] == old for k, r, old, _new in fields):
            keep.append((change, target))
        elif all(have[(k, r)] == new for k, r, _old, new in fields):
            notes.append(f"`{change.ref}`: the previous values are back in `{target.file}` (revert merged)")
        else:
            notes.append(f"`{change.ref}` regressed but `{target.file}` has changed again since; not reverting over it")
    if not keep:
        return None, [], notes
    mapping = replace(mapping, mapped=keep, unmapped=[])
    result = gitops.apply(repo_dir, mapping, write=False)
    notes += [f"{path}: refused: {why}" for path, why in result.refused]
    done = {ref for e in result.edits for ref in e.refs}
    restored = [latest[ref] for ref in sorted(done)]
    if not restored:
        return None, [], notes
    # The adapter writes values in its own spelling (1024Mi); a revert gives back the lines people wrote (1Gi).
    olds = {g.pull.state.merge_commit or g.pull.pr.merge_commit_sha or "" for g in restored}
    edits = [replace(e, after=respell(e.after.decode("utf-8"), e.lines,
                                      [_file_at(repo_dir, f"{sha}^1", e.path) for sha in sorted(olds) if sha]).encode("utf-8"))
             for e in result.edits]
    result = replace(result, edits=edits)
    labels = tuple(policy.pr.get("labels", ("rightsizer",))) + ("revert",)
    records = tuple(g.change for g in restored)
    fp = hashlib.sha256(repr(sorted((r.ref, v.spec_to_json(r.old), v.spec_to_json(r.new)) for r in records)
                             ).encode()).hexdigest()[:16]
    draft = PullRequestDraft(
        scope=SCOPE,
        title=f"Revert {len(restored)} container(s) that did worse after a Rightsizer change",
        body=revert_body(restored, list(warnings)),
        files={e.path: e.after for e in result.edits},
        changes=len(restored),
        labels=labels,
        fingerprint=fp,
        summary_lines=[_summary(g) for g in restored],
        diff=gitops.unified_diff(result.edits),
        records=tuple(v.ChangeRecord(c.namespace, c.kind, c.workload, c.container, c.new, c.old, c.helm_release, c.init)
                      for c in records),
    )
    return draft, restored, notes


def _file_at(repo_dir: Path, rev: str, rel: str) -> str:
    """``rel`` as of ``rev`` in the checkout's history ("" when the history is not there, e.g. a
    shallow clone: the revert then keeps the adapter's spelling, which means the same values)."""
    import subprocess

    try:
        out = subprocess.run(["git", "-C", str(repo_dir), "show", f"{rev}:{rel}"], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.decode("utf-8", errors="replace") if out.returncode == 0 else ""


def _quantity(key: str, value: str) -> int | None:
    from bot.quantity import QuantityError, parse_cpu, parse_memory

    value = value.split(" #", 1)[0].strip().strip("'\"")
    try:
        return parse_cpu(value) if key == "cpu" else parse_memory(value) if key == "memory" else None
    except QuantityError:
        return None


def respell(text: str, lines: Iterable[int], old_texts: Iterable[str]) -> str:
    """Each changed line (1-based) replaced by a line of an old version of the file with the same
    indentation and key and the same quantity, when there is one."""
    out = text.splitlines(keepends=True)
    old_lines = [l for t in old_texts for l in t.splitlines()]
    for n in lines:
        line = out[n - 1]
        head, sep, value = line.rstrip("\r\n").partition(":")
        key = head.strip()
        want = _quantity(key, value) if sep else None
        if want is None:
            continue
        for cand in old_lines:
            c_head, c_sep, c_value = cand.partition(":")
            if c_sep and c_head == head and _quantity(key, c_value) == want:
                out[n - 1] = cand + line[len(line.rstrip("\r\n")):]
                break
    return "".join(out)


def _moves_text(c: v.ChangeRecord) -> str:
    return ", ".join(f"{r} {k[:-1]} {human(r, b)} → {human(r, a)}" for k, r, a, b in c.old.diff(c.new))


def _summary(g: Regression) -> str:
    return f"`{g.change.ref}`: {_moves_text(g.change)} — reverts #{g.pull.pr.number}: {'; '.join(g.verdict.reasons)}"


def revert_body(restored: list[Regression], warnings: list[str]) -> str:
    out = ["## Revert changes that hurt", "",
           "Rightsizer checks every change it made once it runs in the cluster, comparing the same length "
           "of time before and after the rollout (thresholds: `verify.thresholds` in the policy). "
           "These containers did worse afterwards; this PR restores exactly their previous values.", ""]
    for w in warnings:
        out += [f"> [!WARNING]\n> {w}", ""]
    for g in restored:
        c, pr = g.change, g.pull.pr
        merge = (g.pull.state.merge_commit or pr.merge_commit_sha or "")[:12]
        out += [f"### `{c.ref}` — changed by #{pr.number}" + (f" (merge {merge})" if merge else ""), ""]
        out += [f"**Why:** {'; '.join(g.verdict.reasons)}.", f"**Restores:** {_moves_text(c)}.", ""]
        obs = g.obs
        if obs is not None and obs.before is not None and obs.after is not None:
            out += [f"Rolled out {v._utc(obs.rollout_at or 0)}; each window {obs.window / 3600:.1f} h.", ""]
            out += evidence_table(obs.before, obs.after)
            usage = v.usage_lines(obs)
            if usage:
                out += ["", "**Usage after the rollout:** " + "; ".join(usage) + "."]
            out += ["", evidence_chart(obs.before, obs.after)]
        out.append("")
    out.append("Merging this PR also starts a back-off: the same change is not proposed again before the "
               "cool-down (`verify.cooldown`, doubled after each revert of the same container, up to 16×).")
    return "\n".join(out).rstrip() + "\n"


def evidence_table(b: v.Health, a: v.Health) -> list[str]:
    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{100 * x:.1f}%"

    def num(x: float | None) -> str:
        return "n/a" if x is None else f"{x:g}"

    def mem(x: float | None) -> str:
        return "n/a" if x is None else human("memory", round(x))

    def cpu(x: float | None) -> str:
        return "n/a" if x is None else human("cpu", round(x * 1000))

    rows = [("OOM kills", b.oom_kills, a.oom_kills), ("Restarts", b.restarts, a.restarts),
            ("CPU throttling", pct(b.throttling), pct(a.throttling)),
            ("Ready lost", b.ready_losses, a.ready_losses),
            ("Unavailable replicas (max)", num(b.unavailable), num(a.unavailable)),
            ("Memory peak", mem(b.memory_peak), mem(a.memory_peak)),
            ("CPU peak", cpu(b.cpu_peak), cpu(a.cpu_peak))]
    return ["| | before | after |", "|---|---:|---:|", *[f"| {n} | {x} | {y} |" for n, x, y in rows]]


def evidence_chart(b: v.Health, a: v.Health) -> str:
    """A small Mermaid bar chart: the four revert signals, before then after."""
    def vals(h: v.Health) -> list[float]:
        return [h.oom_kills, h.restarts, h.ready_losses, round(100 * (h.throttling or 0), 1)]

    before, after = vals(b), vals(a)
    top = max(before + after + [1])
    return "\n".join([
        "```mermaid", "xychart-beta",
        '    title "Before (first bar) and after (second bar) the rollout"',
        '    x-axis ["OOM kills", "restarts", "Ready lost", "throttling %"]',
        f"    y-axis 0 --> {top * 11 / 10:g}",
        f"    bar [{', '.join(f'{x:g}' for x in before)}]",
        f"    bar [{', '.join(f'{x:g}' for x in after)}]",
        "```"])


def now_of(collected_at: str) -> float:
    return datetime.fromisoformat(collected_at.replace("Z", "+00:00")).timestamp()


__all__ = ["SCOPE", "VerifyOutcome", "verify_merged", "verify_merged_with", "merged_pulls", "explain_history",
           "revert_draft", "remembered", "now_of"]
