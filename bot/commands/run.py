"""`rightsizer run`: measure (or read a snapshot), plan, then open or update the PRs on GitHub.

Meant for GitHub Actions (see action.yml): the GitHub token, repository and run come from
the environment Actions provides; secrets are read from the environment only, never argv.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path
from typing import Iterator, Mapping

from bot.commands.argtypes import non_negative_int, non_negative_seconds
from bot.errors import InputError

TOKEN_ENV = ("RIGHTSIZER_GITHUB_TOKEN", "GITHUB_TOKEN")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--repo", metavar="DIR", default=".", help="checkout of the default branch (default: .)")
    p.add_argument("--policy", metavar="PATH", help="policy file or folder (default: .github/rightsizer.yaml or .github/rightsizer/)")
    p.add_argument("--mode", choices=["off", "report", "pr"], help="override the policy's mode")
    p.add_argument("--dry-run", action="store_true", help="plan and report only; write nothing to GitHub")
    p.add_argument("--snapshot", metavar="FILE", help="use this snapshot instead of collecting one")
    _collection_arguments(p)
    p.add_argument("--max-changes", type=non_negative_int, metavar="N", help="override the policy's cap of changes per PR")
    p.add_argument("--namespaces", default="", metavar="NS[,NS…]", help="only these namespaces")
    p.add_argument("--report-path", metavar="FILE", help="where to write report.json (default: $RUNNER_TEMP/rightsizer/report.json)")
    p.add_argument("--base", metavar="BRANCH", help="base branch for the PRs (default: the repository's default branch)")
    p.add_argument("--bot-login", metavar="LOGIN", help="login the PRs are authored by (default: from the token; github-actions[bot] for GITHUB_TOKEN)")
    p.add_argument("--api-url", metavar="URL", help="GitHub API URL (default: $GITHUB_API_URL or https://api.github.com)")
    p.add_argument("--api-write-pause", type=non_negative_seconds, default=1.0, metavar="SECONDS", help=argparse.SUPPRESS)
    p.add_argument("--github-annotations", action="store_true", help="print errors as GitHub workflow annotations")
    p.add_argument("--pushgateway-url", metavar="URL", help="push the run's rightsizer_* metrics to this Prometheus Pushgateway "
                   "(credentials: RIGHTSIZER_PUSHGATEWAY_TOKEN, _USERNAME/_PASSWORD, _HEADERS)")
    p.add_argument("--pushgateway-ca", metavar="FILE", help="CA bundle for the Pushgateway's TLS")


def _collection_arguments(p: argparse.ArgumentParser) -> None:
    """Live-collection flags: the snapshot command's own set when it offers one (so `run` and
    `snapshot` never disagree), else the flags action.yml passes. Credentials (Prometheus
    token, password, headers) come from RIGHTSIZER_PROMETHEUS_* environment variables."""
    try:
        from bot.commands.snapshot import add_collection_arguments  # type: ignore[attr-defined]
    except ImportError:
        add_collection_arguments = None
    if add_collection_arguments is not None:
        add_collection_arguments(p)
        return
    p.add_argument("--prometheus-url", metavar="URL", help="Prometheus base URL for live collection")
    p.add_argument("--kubeconfig", metavar="FILE", help="kubeconfig for the Kubernetes API (live collection)")
    p.add_argument("--kube-state-metrics", action="store_true", help="read cluster objects from kube-state-metrics in Prometheus instead of the Kubernetes API")
    p.add_argument("--prometheus-ca", metavar="FILE", help="CA bundle for Prometheus TLS")
    p.add_argument("--prometheus-insecure", action="store_true", help="skip Prometheus TLS verification")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="plan and open or update the PRs on GitHub", description=__doc__)
    add_arguments(p)
    p.set_defaults(run=run)


@contextlib.contextmanager
def group(title: str, env: Mapping[str, str]) -> Iterator[None]:
    """A collapsible log group in GitHub Actions; plain output elsewhere."""
    actions = env.get("GITHUB_ACTIONS") == "true"
    if actions:
        print(f"::group::{title}", flush=True)
    try:
        yield
    finally:
        if actions:
            print("::endgroup::", flush=True)


def configs(args: argparse.Namespace, env: Mapping[str, str], event: tuple[str, dict] | None = None):
    from bot.github.app import GitHubConfig, RunConfig
    from bot.commands.snapshot import refuse_measurement_flags_with_snapshot
    from bot.github.client import ClientSettings
    from bot.report.push import config_from_env

    refuse_measurement_flags_with_snapshot(args)
    repo_dir = Path(args.repo)
    if not repo_dir.is_dir():
        raise InputError(str(repo_dir), "repository checkout not found", field="--repo")
    run_url = None
    if env.get("GITHUB_REPOSITORY") and env.get("GITHUB_RUN_ID"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
        run_url = f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    report = args.report_path or str(Path(env.get("RUNNER_TEMP") or ".") / "rightsizer" / "report.json")
    cfg = RunConfig(
        repo_dir=repo_dir, policy_path=args.policy, mode=args.mode, max_changes=args.max_changes,
        namespaces=tuple(n.strip() for n in args.namespaces.split(",") if n.strip()),
        dry_run=args.dry_run, report_path=Path(report), run_url=run_url,
        step_summary=Path(env["GITHUB_STEP_SUMMARY"]) if env.get("GITHUB_STEP_SUMMARY") else None,
        pushgateway=config_from_env(getattr(args, "pushgateway_url", None), env, getattr(args, "pushgateway_ca", None)),
        event_name=event[0] if event else None, event_payload=event[1] if event else None,
        cluster=(getattr(args, "cluster_label", None) or "").partition("=")[2] or None,
        snapshot_file=args.snapshot,
    )
    # A pasted secret often ends in a newline; sent as is, it breaks the Authorization header.
    token = next((env[k].strip() for k in TOKEN_ENV if env.get(k, "").strip()), "")
    repository = env.get("GITHUB_REPOSITORY", "")
    if not token or not repository:
        if not args.dry_run:
            missing = "token" if not token else "GITHUB_REPOSITORY"
            raise InputError("<action inputs>", f"{missing} is missing; set the `token` input (or use dry-run)", field=missing)
        return cfg, None
    gh_cfg = GitHubConfig(
        token=token, repository=repository,
        api_url=args.api_url or env.get("GITHUB_API_URL") or "https://api.github.com",
        base=args.base, bot_login=args.bot_login,
        settings=ClientSettings(write_pause=args.api_write_pause),
    )
    return cfg, gh_cfg


def snapshot_loader(args: argparse.Namespace):
    def load():
        from bot.commands.plan import load_input_snapshot

        return load_input_snapshot(args)

    return load


def make_session(args: argparse.Namespace, env: Mapping[str, str], pipeline=None, event=None):
    """The run's Session; ``pipeline`` replaces ``bot.pipeline.run_pipeline`` (tests only)."""
    from bot.github.app import Session

    cfg, gh_cfg = configs(args, env, event)
    prometheus, cluster = None, None
    if getattr(args, "prometheus_url", None) and not getattr(args, "snapshot", None):
        # The same Prometheus verifies the merged changes (bot.github.revert); credentials from the environment.
        from bot.commands.snapshot import prometheus_config
        from bot.sources.prometheus import PrometheusClient

        prom_cfg, cluster = prometheus_config(args, env)
        prometheus = PrometheusClient(prom_cfg)
    return Session(cfg, gh_cfg, snapshot_loader(args), pipeline=pipeline, prometheus=prometheus, cluster=cluster)


def _say(env: Mapping[str, str], message: str | None, level: str) -> None:
    if message:
        print(f"::{level} title=rightsizer::{message}" if env.get("GITHUB_ACTIONS") == "true" else f"rightsizer: {level}: {message}")


def _push_failure(session) -> None:
    """A failed run still reports when it ran and that it failed (the last good series stay)."""
    if session is None:
        return
    import time

    from bot.report.metrics import failure

    error = session.push(failure(time.time()), replace=False)
    if error:
        print(f"rightsizer: warning: {error}", file=sys.stderr)


def fail_cleanly(exc: BaseException) -> int | None:
    """Exit code for API failures we can explain in one line (printed), else None."""
    from bot.github.client import explain_failure

    message = explain_failure(exc)
    if message is None:
        return None
    print(f"::error title=rightsizer::{message}", flush=True)
    print(f"rightsizer: error: {message}", file=sys.stderr)
    return 1


def run(args: argparse.Namespace, env: Mapping[str, str] | None = None, pipeline=None, event=None) -> int:
    from bot.github.app import write_outputs

    env = os.environ if env is None else env
    session = None
    try:
        with group("Connect to GitHub", env):
            session = make_session(args, env, pipeline, event)
        with group("Measure, plan and publish", env):
            outcome = session.run()
    except InputError:
        _push_failure(session)
        raise
    except Exception as exc:  # noqa: BLE001 - API failures end the run with one clear line
        code = fail_cleanly(exc)
        _push_failure(session)
        if code is None:
            raise
        return code
    _say(env, outcome.push_error, "warning")
    if outcome.dashboard[1]:
        print(f"rightsizer: dashboard issue #{outcome.dashboard[1]}: {outcome.dashboard[0]}")
    for ignored in getattr(outcome.steering, "ignored", None) or []:
        _say(env, f"dashboard: {ignored.box} by {ignored.login} did not count: {ignored.why}", "warning")
    for warning in getattr(outcome.result, "warnings", []) or []:
        print(f"::warning title=rightsizer::{warning}" if env.get("GITHUB_ACTIONS") == "true" else f"rightsizer: warning: {warning}")
    for p in outcome.published:
        print(f"rightsizer: {p.scope}: {p.action}" + (f" #{p.pr_number} {p.pr_url}" if p.pr_number else "")
              + "".join(f"; {m}" for m in p.messages))
    if args.dry_run:
        print(f"rightsizer: dry run: {outcome.changes} change(s) planned; nothing written to GitHub")
    primary = outcome.primary()
    write_outputs(Path(env["GITHUB_OUTPUT"]) if env.get("GITHUB_OUTPUT") else None, {
        "pr-number": str(primary.pr_number) if primary else "",
        "pr-url": primary.pr_url or "" if primary else "",
        "changes": str(outcome.changes),
        "report-path": str(outcome.report_path or ""),
    })
    return 0
