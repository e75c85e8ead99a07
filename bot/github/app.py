"""One Rightsizer run against GitHub: read the PRs' state, plan, publish or close, report.

Shared by ``rightsizer run`` (schedule, workflow_dispatch) and the comment commands
(``recompute``, ``rebase``, ``explain``) so a command does exactly what a scheduled run does.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from bot.github.client import BudgetExhausted, ClientSettings, bot_login, connect
from bot.github.publish import Published, Target, close_stale, merged_overrides, publish, read_state
from bot.model import Snapshot
from bot.policy import Overrides

SCOPES = ("resources", "nodes")
REVERT = "revert"  # bot.github.revert.SCOPE: verification's revert PR (shown and measured, published there)
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
    pushgateway: Any = None  # bot.report.push.PushConfig when metrics are pushed
    event_name: str | None = None  # "issues" when a dashboard edit started the run
    event_payload: dict[str, Any] | None = None
    cluster: str | None = None  # the metrics' cluster key when known up front (--cluster-label)
    snapshot_file: str | None = None  # a snapshot read from a file (cheap to read even after a failure)


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
    dashboard: tuple[str, int | None] = ("none", None)
    steering: Any = None
    push_error: str | None = None

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
        from bot.github import dashboard

        states = self.states()
        policy = self._policy()
        board = dashboard.settings_from_policy(policy.raw.get("dashboard"))
        # The dashboard issue is read and written by every run that may write, unless the policy is off.
        board_writes = self.target is not None and not self.cfg.dry_run and (self.cfg.mode or policy.mode) != "off"
        steering = dashboard.read(self.target, board, self.cfg.event_payload) if board_writes else dashboard.Steering()
        # A dashboard edit runs the job; only "recompute now" (from a writer) publishes from it.
        # A one-off `mode: report|off` (workflow_dispatch) is a look, not a decision: open PRs stay.
        dashboard_only = self.cfg.event_name == "issues" and not steering.recompute
        # As before the dashboard: a policy whose mode is `off` still closes the bot's open PRs.
        publishes = (self.target is not None and not self.cfg.dry_run and not dashboard_only
                     and self.cfg.mode not in ("report", "off"))
        if publishes:
            self._check_budget()  # verification may write too (revert PR, verdicts)
        verification = self.verify(publishes)
        # The PRs' own skips and pins, plus the dashboard's requests for this plan only: the
        # dashboard keeps its own (unticking undoes them), so they never enter a PR's state.
        pr_overrides = merged_overrides(st for _, st in states.values())
        result = self.pipeline(_steered(pr_overrides, steering), verification.holds if verification else None)
        if verification is not None:
            verification.annotate(result)
        report_path = self._write_report(result.report)
        self._write_summary(result.step_summary)
        published = self._publish(result, states, pr_overrides, force, reason) if publishes else []
        if verification is not None and verification.published is not None:
            published.append(verification.published)
        pulls = pull_infos(published, {**states, **self._revert_state(verification, published)})
        outcome = RunOutcome(published, sum(d.changes for d in result.drafts), report_path, result, steering=steering)
        if getattr(result, "plan", None) is None:  # a stand-in pipeline (tests) has no plan to show
            return outcome
        if board_writes:
            view = self._dashboard_view(result, policy, pulls, verification)
            outcome.dashboard = dashboard.write(self.target, board, steering, view)
        outcome.push_error = self._metrics(result, policy, pulls)
        return outcome

    def _publish(self, result: Any, states: dict[str, tuple[Any, Any]], overrides: Overrides, force: bool,
                 reason: str | None) -> list[Published]:
        """Open, update or close each scope's PR to match the plan."""
        self._check_budget()
        drafts = {d.scope: d for d in result.drafts}
        # The node-pool PR goes first so the resources PR can link to it.
        by_scope: dict[str, Published] = {}
        for scope in reversed(SCOPES):
            draft, existing = drafts.get(scope), states.get(scope)
            if draft is not None and draft.changes > 0 and draft.files:
                nodes = by_scope.get("nodes")
                see_also = nodes.pr_number if scope == "resources" and nodes and nodes.action != "closed" else None
                by_scope[scope] = publish(self.target, draft, result.report, overrides, existing=existing,
                                          force=force, reason=reason, node_pool_pr=see_also)
            else:
                by_scope[scope] = close_stale(self.target, scope, _empty_reason(result, scope), existing=existing)
        return [by_scope[scope] for scope in SCOPES]

    def _policy(self):
        from bot.policy import load_policy

        return load_policy(self.cfg.repo_dir, self.cfg.policy_path)

    def _revert_state(self, verification: Any, published: list[Published]) -> dict[str, tuple[Any, Any]]:
        """The open revert PR when verification is on and did not publish this run (it only read)."""
        if verification is None or self.target is None or any(p.scope == REVERT for p in published):
            return {}
        from bot.github.publish import find_pull

        return {REVERT: (find_pull(self.target, REVERT, "open"), None)}

    def _dashboard_view(self, result: Any, policy: Any, pulls: list[Any], verification: Any = None):
        from bot.report.dashboard_markdown import DashboardView, pool_notes, verification_lines
        from bot.report.savings import prices_from_policy

        report = result.report if isinstance(result.report, dict) else {}
        history = verification_lines(verification.history, verification.warnings()) if verification else ()
        return DashboardView(plan=result.plan, prices=prices_from_policy(policy.raw.get("costs")), state=None,
                             pool_notes=pool_notes(report), pulls=pulls, run_url=self.cfg.run_url,
                             updated=_utc_long(), history=history)

    def _metrics(self, result: Any, policy: Any, pulls: list[Any]) -> str | None:
        """Write metrics.prom next to report.json and push it when a Pushgateway is configured;
        a push failure is returned (a warning), never raised: the run itself worked."""
        import time

        from bot.report import metrics
        from bot.report.savings import prices_from_policy

        text = metrics.render(result.plan, metrics.RunInfo(
            now=time.time(), pull_requests={p.scope: (p.state, p.number) for p in pulls},
            prices=prices_from_policy(policy.raw.get("costs"))))
        if self.cfg.report_path is not None:
            (self.cfg.report_path.parent / "metrics.prom").write_text(text, encoding="utf-8")
        return self.push(text, replace=True)

    def push(self, text: str, *, replace: bool) -> str | None:
        if self.cfg.pushgateway is None:
            return None
        from bot.report.push import PushError, push

        try:
            push(self.cfg.pushgateway, self.grouping(), text, replace=replace)
        except PushError as exc:
            return str(exc)
        return None

    def grouping(self) -> dict[str, str]:
        """The Pushgateway grouping key: stable per cluster and repository, so runs replace series."""
        return {"cluster": self.cfg.cluster or self._snapshot_cluster() or "default",
                "repository": self.gh_cfg.repository if self.gh_cfg else "local"}

    def _snapshot_cluster(self) -> str | None:
        """The snapshot's cluster name; after a failure only from a snapshot file (never measure again)."""
        if self._snap is None and self.cfg.snapshot_file:
            try:
                self.snapshot()
            except Exception:  # noqa: BLE001 - the failure being reported may be this very file
                return None
        return self._snap.cluster if self._snap is not None else None

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
        from bot.report.json_report import write_report

        path.parent.mkdir(parents=True, exist_ok=True)
        write_report(report, path)
        return path

    def _write_summary(self, text: str) -> None:
        if self.cfg.report_path is not None:  # the rendered report, for the run's artifact
            (self.cfg.report_path.parent / "report.md").write_text(text, encoding="utf-8")
        if self.cfg.step_summary is None:
            return
        with open(self.cfg.step_summary, "a", encoding="utf-8") as fh:
            fh.write(fit_summary(text))


def _steered(overrides: Overrides, steering: Any) -> Overrides:
    """The overrides for this plan: the PRs' own plus the dashboard's skips and includes."""
    if not (steering.includes or steering.skips):
        return overrides
    return replace(overrides, skips=tuple(sorted({*overrides.skips, *steering.skips})), includes=steering.includes)


def pull_infos(published: list[Published], states: dict[str, tuple[Any, Any]]) -> list[Any]:
    """Each scope's PR as the dashboard and the metrics show it: what this run did, else what
    it found."""
    from bot.report.dashboard_markdown import PullInfo

    words = {"created": "open", "updated": "open", "unchanged": "open", "paused": "paused",
             "declined": "declined", "closed": "closed", "none": "none"}
    done = {p.scope: p for p in published}
    out = []
    for scope in SCOPES + tuple(s for s in (REVERT,) if s in done or s in states):
        if scope in done:
            p = done[scope]
            state = words.get(p.action, "open")
            out.append(PullInfo(scope, state, p.pr_number if state in ("open", "paused") else None, p.pr_url))
            continue
        pr, st = states.get(scope, (None, None))
        if pr is not None:
            out.append(PullInfo(scope, "paused" if getattr(st, "paused", False) else "open", pr.number, pr.html_url))
        else:
            out.append(PullInfo(scope, "declined" if getattr(st, "declined", "") else "none"))
    return out


def _utc_long() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


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
    unmapped = (report.get("unmapped") or []) + (report.get("refused") or [])  # refused: a file the patch could not edit
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
