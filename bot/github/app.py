"""One Rightsizer run against GitHub: read the PRs' state, plan, publish or close, report.

Shared by ``rightsizer run`` (schedule, workflow_dispatch) and the comment commands
(``recompute``, ``rebase``, ``explain``) so a command does exactly what a scheduled run does.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from bot.github.client import BudgetExhausted, ClientSettings, bot_login, connect
from bot.github.publish import Published, Target, close_stale, merged_overrides, publish, read_state
from bot.model import Snapshot
from bot.policy import Overrides

SCOPES = ("resources", "nodes")
MIN_API_BUDGET = 60  # requests one run may need: reads, blobs, tree, commit, ref, PR, labels, comments
STEP_SUMMARY_LIMIT = 1024 * 1024  # GitHub rejects larger step summaries


@dataclass
class RunConfig:
    repo_dir: Path
    policy_path: str | None = None
    mode: str | None = None
    max_changes: int | None = None
    namespaces: tuple[str, ...] = ()
    dry_run: bool = False
    report_path: Path | None = None
    run_url: str | None = None
    step_summary: Path | None = None


@dataclass
class GitHubConfig:
    token: str
    repository: str  # owner/name
    api_url: str = "https://api.github.com"
    base: str | None = None  # default: the repository's default branch
    bot_login: str | None = None
    settings: ClientSettings = field(default_factory=ClientSettings)


@dataclass
class RunOutcome:
    published: list[Published]
    changes: int
    report_path: Path | None
    result: Any = None

    def primary(self) -> Published | None:
        live = [p for p in self.published if p.pr_number and p.action != "closed"]
        return live[0] if live else None


class Session:
    """A connected repository plus the run configuration; created once per process."""

    def __init__(self, cfg: RunConfig, gh_cfg: GitHubConfig | None, snapshot: Callable[[], Snapshot],
                 pipeline: Callable[..., Any] | None = None, prometheus: Any = None,
                 cluster: tuple[str, str] | None = None):
        self.cfg = cfg
        self._prometheus = prometheus  # a PrometheusClient for verification of merged changes, or None
        self._cluster = cluster
        self._pipeline = pipeline
        self.gh_cfg = gh_cfg
        self._snapshot = snapshot
        self._snap: Snapshot | None = None
        self.repo = None
        self.gh = None
        self.target: Target | None = None
        self.state_warnings: list[str] = []
        if gh_cfg is not None:
            gh = self.gh = connect(gh_cfg.token, _with_base(gh_cfg.settings, gh_cfg.api_url))
            self.repo = gh.get_repo(gh_cfg.repository)
            login = gh_cfg.bot_login or bot_login(gh, gh_cfg.token)
            self.target = Target(repo=self.repo, base=gh_cfg.base or self.repo.default_branch, bot_login=login,
                                 base_sha=_head_sha(cfg.repo_dir), run_url=cfg.run_url)

    def snapshot(self) -> Snapshot:
        if self._snap is None:
            self._snap = self._snapshot()
        return self._snap

    def states(self) -> dict[str, tuple[Any, Any]]:
        if self.target is None:
            return {}
        states = {scope: read_state(self.target, scope) for scope in SCOPES}
        for scope, (pr, st) in states.items():
            for entry in getattr(st, "dropped", ()):
                warning = f"{scope}: ignored an invalid entry in the PR's stored state: {entry}"
                if warning not in self.state_warnings:
                    self.state_warnings.append(warning)
                    print(f"rightsizer: warning: {warning}", file=sys.stderr)
        return states

    def pipeline(self, overrides: Overrides, holds: Any = None):
        if self._pipeline is not None:
            run_pipeline = self._pipeline
        else:
            from bot.pipeline import run_pipeline

        return run_pipeline(
            self.cfg.repo_dir, self.snapshot(), self.cfg.policy_path, overrides,
            mode_override=self.cfg.mode, max_changes=self.cfg.max_changes,
            namespaces=self.cfg.namespaces, details_url=self.cfg.run_url,
            **({"holds": holds} if holds is not None else {}),
        )

    def verify(self, write: bool):
        """Verification of merged changes (bot.github.revert); None without GitHub."""
        if self.target is None:
            return None
        from bot.github.revert import verify_merged_with

        return verify_merged_with(self.target, self.cfg.repo_dir, self.cfg.policy_path, self.snapshot(),
                                  self._prometheus, self._cluster, write=write)

    def run(self, *, force: bool = False, reason: str | None = None) -> RunOutcome:
        states = self.states()
        overrides = merged_overrides(st for _, st in states.values())
        writing = self.target is not None and not self.cfg.dry_run and self.cfg.mode not in ("report", "off")
        if writing:
            self._check_budget()  # verification may write too (revert PR, verdicts)
        verification = self.verify(writing)
        result = self.pipeline(overrides, verification.holds if verification else None)
        if verification is not None:
            verification.annotate(result)
        report_path = self._write_report(result.report)
        self._write_summary(result.step_summary)
        drafts = {d.scope: d for d in result.drafts}
        changes = sum(d.changes for d in result.drafts)
        published: list[Published] = []
        # A one-off `mode: report|off` (workflow_dispatch) is a look, not a decision: open PRs stay.
        if self.target is not None and not self.cfg.dry_run and self.cfg.mode not in ("report", "off"):
            self._check_budget()
            # The node-pool PR goes first so the resources PR can link to it.
            by_scope: dict[str, Published] = {}
            for scope in reversed(SCOPES):
                draft = drafts.get(scope)
                existing = states.get(scope)
                if draft is not None and draft.changes > 0 and draft.files:
                    nodes = by_scope.get("nodes")
                    see_also = nodes.pr_number if scope == "resources" and nodes and nodes.action != "closed" else None
                    by_scope[scope] = publish(self.target, draft, result.report, overrides, existing=existing,
                                              force=force, reason=reason, node_pool_pr=see_also)
                else:
                    by_scope[scope] = close_stale(self.target, scope, _empty_reason(result, scope), existing=existing)
            published.extend(by_scope[scope] for scope in SCOPES)
        if verification is not None and verification.published is not None:
            published.append(verification.published)
        return RunOutcome(published, changes, report_path, result)

    def _check_budget(self) -> None:
        """Stop before the first write when the hourly budget cannot cover a whole publish:
        better no PR update than a branch pushed without its PR."""
        remaining, _limit = self.gh.rate_limiting  # from the last response's headers
        if 0 <= remaining < MIN_API_BUDGET:
            reset = self.gh.rate_limiting_resettime
            raise BudgetExhausted(
                f"only {remaining} GitHub API requests left until {_utc(reset)}; a publish needs up to "
                f"{MIN_API_BUDGET}, so nothing was written. The next run continues.")

    def explain(self, ref: str) -> str:
        states = self.states()
        text = self.pipeline(merged_overrides(st for _, st in states.values())).explain(ref)
        if self.target is not None:
            from bot.github.revert import explain_history

            text += explain_history(self.target, ref)
        return text

    def _write_report(self, report: dict[str, Any]) -> Path | None:
        path = self.cfg.report_path
        if path is None:
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        return path

    def _write_summary(self, text: str) -> None:
        if self.cfg.step_summary is None:
            return
        with open(self.cfg.step_summary, "a", encoding="utf-8") as fh:
            fh.write(fit_summary(text))


def fit_summary(text: str, limit: int = STEP_SUMMARY_LIMIT) -> str:
    """``text`` cut at a line boundary so its UTF-8 size stays under GitHub's 1 MiB cap."""
    text = text.rstrip("\n") + "\n"
    if len(text.encode("utf-8")) <= limit:
        return text
    note = "\n\n_Summary trimmed to GitHub's 1 MiB limit; report.json (the `report-path` output) has every decision._\n"
    room = limit - len(note.encode("utf-8")) - 8
    cut = text.encode("utf-8")[:room].decode("utf-8", errors="ignore")
    cut = cut[: cut.rfind("\n")] if "\n" in cut else cut
    if cut.count("```") % 2:
        cut += "\n```"
    return cut + note


def _utc(epoch: int) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%H:%M UTC")


def _empty_reason(result: Any, scope: str) -> str:
    report = result.report if isinstance(getattr(result, "report", None), dict) else {}
    if scope != "resources":
        return "the latest plan proposes no node-pool change"
    unmapped = report.get("unmapped") or []
    if unmapped:
        return (f"{len(unmapped)} container(s) would change but none maps to a file in this repository; "
                "the run's summary lists why")
    return "no container needs a change beyond the policy's thresholds right now"


def _with_base(settings: ClientSettings, api_url: str) -> ClientSettings:
    from dataclasses import replace

    return replace(settings, base_url=api_url.rstrip("/"))


def _head_sha(repo_dir: Path) -> str | None:
    """The commit the checkout is at: the commit the plan was computed from."""
    import subprocess

    try:
        out = subprocess.run(["git", "-C", str(repo_dir), "rev-parse", "--verify", "HEAD^{commit}"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def write_outputs(path: Path | None, values: dict[str, str]) -> None:
    """Append step outputs in the ``name<<delimiter`` form (safe for any value)."""
    if path is None:
        return
    with open(path, "a", encoding="utf-8") as fh:
        for name, value in values.items():
            delim = "RIGHTSIZER_EOF_" + os.urandom(8).hex()
            fh.write(f"{name}<<{delim}\n{value}\n{delim}\n")
