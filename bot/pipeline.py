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

from bot.engine.plan import BLOCKED, OVER_CAP, SELECTED, Plan, build_plan
from bot.model import Snapshot
from bot.policy import Overrides, Pin, Policy, load_policy
from bot.quantity import human
from bot.report.json_report import report_dict
from bot.report.markdown import LABELS, FileLines, explain, headline, render_pr_body

__all__ = ["Overrides", "Pin", "PullRequestDraft", "PipelineResult", "run_pipeline", "plan_for"]

PR_TITLE = "Right-size {n} container(s)"


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


@dataclass
class PipelineResult:
    drafts: list[PullRequestDraft]
    report: dict[str, Any]
    step_summary: str
    plan: Plan
    explain: Callable[[str], str]
    warnings: list[str] = field(default_factory=list)
    edits: list[Any] = field(default_factory=list)


def filter_namespaces(snapshot: Snapshot, namespaces: tuple[str, ...]) -> Snapshot:
    if not namespaces:
        return snapshot
    keep = set(namespaces)
    return replace(snapshot, workloads=tuple(w for w in snapshot.workloads if w.namespace in keep))


def plan_for(snapshot: Snapshot, policy: Policy, repo_dir: Path | None) -> tuple[Plan, Any, dict[str, str]]:
    """Plan, and (with a repo) the GitOps mapping of the selected changes.

    Returns (plan, mapping or None, unmapped {key: reason}).
    """
    plan = build_plan(snapshot, policy)
    if repo_dir is None:
        return plan, None, {}
    from bot import gitops

    config = gitops.config_from_policy(policy.gitops)
    inventory = gitops.discover(repo_dir, config)
    wanted = [d.change() for d in plan.decisions if d.status in (SELECTED, BLOCKED, OVER_CAP)]
    mapping = gitops.map_changes(inventory, wanted)
    unmapped = {change.ref: reason for change, reason in mapping.unmapped}
    if unmapped:
        plan = build_plan(snapshot, replace(policy, not_in_git=unmapped))
        mapping = gitops.map_changes(inventory, plan.changes())
    else:
        mapping = gitops.map_changes(inventory, plan.changes())
    return plan, mapping, unmapped


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


def _diff(edits: list[Any]) -> str:
    if not edits:
        return ""
    from bot import gitops

    return gitops.unified_diff(edits)


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
) -> PipelineResult:
    policy = policy or load_policy(repo_dir, policy_path)
    policy = policy.with_overrides(overrides)
    if mode_override:
        policy = policy.with_mode(mode_override)
    if max_changes is not None:
        policy = policy.with_max_changes(max_changes)
    snapshot = filter_namespaces(snapshot, namespaces)

    plan, mapping, unmapped = plan_for(snapshot, policy, repo_dir)
    warnings: list[str] = []
    edits: list[Any] = []
    files: list[FileLines] = []
    if mapping is not None:
        from bot import gitops

        result = gitops.apply(repo_dir, mapping, write=write)
        edits = list(result.edits)
        warnings += [str(w) for w in result.warnings]
        warnings += [f"{path}: refused: {why}" for path, why in result.refused]
        files = [FileLines(e.path, tuple(e.lines), tuple(getattr(e, "refs", ()))) for e in edits]

    unmapped_list = sorted(unmapped.items())
    report = report_dict(plan, {"unmapped": [{"ref": k, "reason": v} for k, v in unmapped_list], "warnings": warnings})
    body = render_pr_body(plan, files, unmapped_list, details_url=details_url)
    step_summary = render_pr_body(plan, files, unmapped_list, limit=1_000_000)
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
            )
        )
    return PipelineResult(
        drafts=drafts,
        report=report,
        step_summary=step_summary,
        plan=plan,
        explain=lambda ref: explain(plan, ref),
        warnings=warnings,
        edits=edits,
    )
