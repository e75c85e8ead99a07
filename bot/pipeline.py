"""snapshot + repo + policy → PR drafts. The one place the engine meets the GitOps adapter.

Candidates the adapter cannot find in Git are taken out before selection, so
the PR never promises a change it cannot write and the cap is spent on
changes that land.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from bot import timing
from bot.engine.plan import BLOCKED, OVER_CAP, SELECTED, Plan, build_plan
from bot.model import Snapshot
from bot.policy import Overrides, Pin, Policy, load_policy
from bot.quantity import human
from bot.report import savings
from bot.report.json_report import pool_dict, report_dict
from bot.report.nodepool_markdown import render_pool_note
from bot.report.markdown import LABELS, PR_BODY_LIMIT, REFUSED_PREFIX, FileLines, explain, headline, render_pr_bodies

__all__ = ["Overrides", "Pin", "PullRequestDraft", "PipelineResult", "run_pipeline", "plan_for"]

PR_TITLE = "Right-size {n} container(s)"
TFVARS_MAX_BYTES = 2 * 1024 * 1024
STEP_SUMMARY_LIMIT = 1_000_000  # characters; the Action cuts what it writes at GitHub's 1 MiB (bot/github/app.py)


@dataclass
class PullRequestDraft:
    scope: str
    title: str
    body: str
    files: dict[str, bytes]
    changes: int
    labels: tuple[str, ...] = ("rightsizer",)
    fingerprint: str = ""
    summary_lines: list[str] = field(default_factory=list)
    diff: str = ""
    records: tuple[Any, ...] = ()  # bot.engine.verify.ChangeRecord per container (kept in the PR's state)


@dataclass
class PipelineResult:
    drafts: list[PullRequestDraft]
    report: dict[str, Any]
    step_summary: str
    plan: Plan
    explain: Callable[[str], str]
    warnings: list[str] = field(default_factory=list)
    edits: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class GitWork:
    """The selected changes' places in Git and their patch (computed, not yet written)."""

    mapping: Any
    patch: Any


def plan_for(snapshot: Snapshot, policy: Policy, repo_dir: Path | None) -> tuple[Plan, GitWork | None, dict[str, str]]:
    """Plan, and (with a repo) the GitOps mapping and patch of the selected changes.

    Only selected changes are looked up (the repo is read lazily, so the work grows with the PR);
    any that are not in Git, or whose file the patch refuses, are taken out and the plan is made
    again, until every selected change has its file. Returns (plan, GitWork or None, unmapped {key: reason}).
    """
    with timing.phase("plan"):
        plan = build_plan(snapshot, policy)
    if repo_dir is None:
        return plan, None, {}
    from bot import gitops

    with timing.phase("discover + map"):
        inventory = gitops.discover(repo_dir, gitops.config_from_policy(policy.gitops), lazy=True)
    unmapped: dict[str, str] = {}
    while True:
        with timing.phase("discover + map"):
            mapping = gitops.map_changes(inventory, plan.changes())
        new = {change.ref: reason for change, reason in mapping.unmapped}
        if not new:
            with timing.phase("patch"):
                patch = gitops.apply(repo_dir, mapping, write=False)  # written by run_pipeline, once all is computed
            new = _refused_changes(mapping, patch)
        if not new:
            return plan, GitWork(mapping, patch), unmapped
        unmapped.update(new)
        with timing.phase("plan"):
            plan = build_plan(snapshot, replace(policy, not_in_git=dict(unmapped)))


def _refused_changes(mapping: Any, patch: Any) -> dict[str, str]:
    """The changes in files the patch refused (the read-back failed): they cannot land, so they are
    taken out like the ones not in Git, and the PR lists only what its commit holds."""
    refused = dict(patch.refused)
    return {change.ref: f"{REFUSED_PREFIX}{target.file}: {refused[target.file]}"
            for change, target in mapping.mapped if target.file in refused}


def fingerprint(plan: Plan) -> str:
    data = [
        [d.key, d.recommendation.proposed.requests.cpu, d.recommendation.proposed.requests.memory,
         d.recommendation.proposed.limits.cpu, d.recommendation.proposed.limits.memory]
        for d in plan.selected
    ]
    return hashlib.sha256(json.dumps(data).encode()).hexdigest()[:16]


def summary_line(d) -> str:
    rec = d.recommendation
    moves = ", ".join(f"{LABELS[(k, r)]} {human(r, a)} → {human(r, b)}" for k, r, a, b in rec.current.diff(rec.proposed))
    why = headline(d)
    return f"`{d.key}`: {moves}" + (f" — {why}" if why else "")


def _seconds_since_change(repo_dir: Path, file: str, collected_at: str) -> float | None:
    """How long ago the count file last changed in Git (the cooldown clock), measured at collection time."""
    import subprocess
    from datetime import datetime

    try:
        out = subprocess.run(
            ["git", "-C", str(repo_dir), "log", "-1", "--format=%ct", "--", file],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    if not out:
        return None
    now = datetime.fromisoformat(collected_at.replace("Z", "+00:00")).timestamp()
    return max(0.0, now - int(out))


def node_pool_drafts(repo_dir: Path | None, snapshot: Snapshot, plan: Plan, policy: Policy) -> tuple[list[PullRequestDraft], list[str], list[Any]]:
    """One draft per pool whose count should change; notes for the others."""
    from bot.engine.nodepools import pools_from_policy, propose
    from bot.report.nodepool_markdown import render_pool_body, render_pool_note

    drafts, notes, proposals = [], [], []
    if repo_dir is None or not policy.node_pools:
        return drafts, notes, proposals
    from bot.gitops import tfvars

    from bot.safefs import PathRefused, read_inside

    for pool in pools_from_policy(policy.node_pools):
        try:
            before = read_inside(repo_dir, pool.file, TFVARS_MAX_BYTES)
            current = tfvars.read_count_text(before.decode("utf-8"), pool.variable, pool.file)
        except PathRefused as exc:
            notes.append(f"Node pool `{pool.name}`: {pool.file}: refused: {exc}")
            continue
        except UnicodeDecodeError:
            notes.append(f"Node pool `{pool.name}`: {pool.file} is not UTF-8 text")
            continue
        except tfvars.CountError as exc:
            notes.append(f"Node pool `{pool.name}`: {exc}")
            continue
        proposal = propose(
            snapshot, plan, pool, policy.budgets, current,
            seconds_since_last_change=_seconds_since_change(repo_dir, pool.file, snapshot.collected_at),
        )
        proposals.append(proposal)
        notes.append(render_pool_note(proposal))
        if not proposal.changed:
            continue
        after = tfvars.set_count(before.decode("utf-8"), pool.variable, proposal.proposed, pool.file).encode("utf-8")
        line = next((i for i, (a, b) in enumerate(zip(before.splitlines(), after.splitlines()), 1) if a != b), None)
        drafts.append(
            PullRequestDraft(
                scope="nodes",
                title=f"Scale node pool {pool.name}: {proposal.current} → {proposal.proposed} nodes",
                body=render_pool_body(proposal, line),
                files={pool.file: after},
                changes=1,
                labels=tuple(policy.pr.get("labels", ("rightsizer",))) + ("nodes",),
                fingerprint=hashlib.sha256(f"{pool.name}:{proposal.current}:{proposal.proposed}".encode()).hexdigest()[:16],
                summary_lines=[f"`{pool.name}`: {pool.variable} {proposal.current} → {proposal.proposed} ({'; '.join(proposal.reasons)})"],
                diff="".join(__import__("difflib").unified_diff(
                    before.decode().splitlines(True), after.decode().splitlines(True), f"a/{pool.file}", f"b/{pool.file}")),
            )
        )
    return drafts, notes, proposals


def _with_cost(body: str, cost: str) -> str:
    """The PR text with the estimated-cost section before the node fit (after the changes)."""
    if not cost:
        return body
    at = body.find("### Node fit")
    return body + "\n" + cost if at < 0 else body[:at] + cost + "\n" + body[at:]


def change_record(d) -> Any:
    """What verification needs to know later about one selected change."""
    from bot.engine.verify import ChangeRecord

    w, rec = d.workload, d.recommendation
    return ChangeRecord(w.namespace, w.kind, w.name, d.container, rec.current, rec.proposed, w.helm_release, d.init)


def _apply_holds(plan: Plan, git: GitWork | None, unmapped: dict[str, str], snapshot: Snapshot, policy: Policy,
                 repo_dir: Path | None, holds: Any):
    """Plan again without the changes a back-off or a pending revert forbids (verification, issue 14).
    Only proposals moving a held field in the held direction are taken out."""
    from bot.engine.verify import moves_between
    from datetime import datetime

    now = datetime.fromisoformat(snapshot.collected_at.replace("Z", "+00:00")).timestamp()
    proposals = [(d.key, moves_between(d.recommendation.current, d.recommendation.proposed))
                 for d in plan.decisions if d.recommendation is not None and d.recommendation.changed]
    held = holds.held(proposals, now)
    if not held:
        return plan, git, unmapped, policy
    policy = replace(policy, held={**dict(getattr(policy, "held", {}) or {}), **held})
    plan, git, unmapped = plan_for(snapshot, policy, repo_dir)
    return plan, git, unmapped, policy


def _diff(edits: list[Any]) -> str:
    if not edits:
        return ""
    from bot import gitops

    return gitops.unified_diff(edits)


def _write_files(repo_dir: Path, edits: list[Any], pool_drafts: list[PullRequestDraft]) -> None:
    """Every file of the run in one all-or-nothing step, after every input was validated and
    the whole plan computed (a failure here leaves the checkout as it was)."""
    from bot.errors import RunError
    from bot.safefs import PathRefused, write_all

    files = {e.path: e.after for e in edits}
    for draft in pool_drafts:
        files.update(draft.files)
    try:
        write_all(repo_dir, files)
    except (PathRefused, OSError) as exc:
        raise RunError(f"could not write the patched files ({exc}); nothing was written") from None


def run_pipeline(
    repo_dir: Path | None,
    snapshot: Snapshot,
    policy_path: str | None,
    overrides: Overrides = Overrides(),
    *,
    mode_override: str | None = None,
    max_changes: int | None = None,
    namespaces: tuple[str, ...] = (),
    policy: Policy | None = None,
    write: bool = False,
    details_url: str | None = None,
    holds: Any = None,
) -> PipelineResult:
    policy = policy or load_policy(repo_dir, policy_path)
    policy = policy.with_overrides(overrides)
    if mode_override:
        policy = policy.with_mode(mode_override)
    if max_changes is not None:
        policy = policy.with_max_changes(max_changes)
    if namespaces:
        policy = policy.with_namespaces(namespaces)

    plan, git, unmapped = plan_for(snapshot, policy, repo_dir)
    if holds is not None:
        plan, git, unmapped, policy = _apply_holds(plan, git, unmapped, snapshot, policy, repo_dir, holds)
    warnings: list[str] = []
    edits: list[Any] = []
    files: list[FileLines] = []
    if git is not None:
        result = git.patch
        edits = list(result.edits)
        warnings += [str(w) for w in result.warnings]
        warnings += [f"{path}: refused: {why}" for path, why in result.refused]
        warnings += [f"not read: {why}" for why in git.mapping.refused.values()]
        files = [FileLines(e.path, tuple(e.lines), tuple(getattr(e, "refs", ()))) for e in edits]

    from bot.snapshot import fit_warnings

    warnings += fit_warnings(snapshot)
    unmapped_list = sorted(unmapped.items())
    # Pool files are written with the resources' files, once everything is computed (below).
    with timing.phase("node pools"):
        pool_drafts, pool_notes, pool_proposals = node_pool_drafts(repo_dir, snapshot, plan, policy)
    prices = savings.prices_from_policy(policy.raw.get("costs"))
    with timing.phase("report"):
        report = report_dict(plan, {
            "unmapped": [{"ref": k, "reason": v} for k, v in unmapped_list if not v.startswith(REFUSED_PREFIX)],
            "refused": [{"ref": k, "reason": v[len(REFUSED_PREFIX):]} for k, v in unmapped_list if v.startswith(REFUSED_PREFIX)],
            "warnings": warnings,
            "nodePools": [pool_dict(p) | {"summary": render_pool_note(p)} for p in pool_proposals],
            "nodePoolErrors": [n for n in pool_notes if not any(n == render_pool_note(p) for p in pool_proposals)],
            "savings": savings.savings_dict(plan, prices),
        })
        cost = "\n".join(savings.savings_section(plan, prices))
    pool_note = None
    if pool_drafts and policy.mode == "pr":
        pool_note = "Node pools: " + "; ".join(
            f"`{p.pool.name}` {p.current} → {p.proposed} nodes" for p in pool_proposals if p.changed
        ) + " — proposed in its own PR on branch `rightsizer/nodes`, with the pods it makes room for."
    with timing.phase("report"):
        body, step_summary = (_with_cost(text, cost) for text in render_pr_bodies(
            plan, files, unmapped_list, details_url=details_url, limits=(PR_BODY_LIMIT, STEP_SUMMARY_LIMIT), node_pool_note=pool_note))
    if pool_notes:
        step_summary += "\n### Node pools\n\n" + "\n".join(f"- {n}" for n in pool_notes) + "\n"
        step_summary += "".join("\n" + d.body for d in pool_drafts)
    drafts = []
    if plan.selected and policy.mode != "off":
        labels = tuple(policy.pr.get("labels", ("rightsizer",)))
        drafts.append(
            PullRequestDraft(
                scope="resources",
                title=policy.pr.get("title", PR_TITLE).format(n=len(plan.selected)),
                body=body,
                files={e.path: e.after for e in edits},
                changes=len(plan.selected),
                labels=labels,
                fingerprint=fingerprint(plan),
                summary_lines=[summary_line(d) for d in plan.selected],
                diff=_diff(edits),
                records=tuple(change_record(d) for d in plan.selected),
            )
        )
    if policy.mode == "pr":
        drafts.extend(pool_drafts)
    if write:
        _write_files(repo_dir, edits, pool_drafts if policy.mode == "pr" else [])
    return PipelineResult(
        drafts=drafts,
        report=report,
        step_summary=step_summary,
        plan=plan,
        explain=lambda ref: explain(plan, ref),
        warnings=warnings,
        edits=edits,
    )
