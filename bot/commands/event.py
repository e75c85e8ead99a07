"""`rightsizer event`: act on the GitHub Actions event that started the workflow.

``schedule`` and ``workflow_dispatch`` run the whole job (as ``rightsizer run``);
``issue_comment`` handles a ``/rightsize`` command on one of the bot's PRs; ``issues``
(``edited``) reads the dashboard issue's checkboxes right away; anything else
is logged and ignored. Reads ``$GITHUB_EVENT_NAME`` and ``$GITHUB_EVENT_PATH``.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any, Mapping

from bot.commands import run as run_command
from bot.errors import InputError

RUN_EVENTS = ("schedule", "workflow_dispatch")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("event", help="handle the GitHub Actions event (schedule, workflow_dispatch, issue_comment)", description=__doc__)
    run_command.add_arguments(p)
    p.set_defaults(run=run)


def load_event(env: Mapping[str, str]) -> tuple[str, dict[str, Any]]:
    name = env.get("GITHUB_EVENT_NAME", "")
    path = env.get("GITHUB_EVENT_PATH", "")
    if not name:
        raise InputError("<environment>", "GITHUB_EVENT_NAME is not set (run inside GitHub Actions, or use `rightsizer run`)", field="GITHUB_EVENT_NAME")
    if not path:
        return name, {}
    try:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(path, f"cannot read the event payload: {exc}", field="GITHUB_EVENT_PATH") from None
    return name, payload if isinstance(payload, dict) else {}


class _SessionRunner:
    def __init__(self, session: Any):
        self.session = session

    def recompute(self, *, force: bool, reason: str):
        return self.session.run(force=force, reason=reason).published

    def explain(self, ref: str) -> str:
        return self.session.explain(ref)


def run(args: argparse.Namespace, env: Mapping[str, str] | None = None, pipeline=None) -> int:
    from bot.commands.snapshot import refuse_measurement_flags_with_snapshot

    refuse_measurement_flags_with_snapshot(args)  # before the event, so every event refuses alike
    env = os.environ if env is None else env
    name, payload = load_event(env)
    if name in RUN_EVENTS:
        return run_command.run(args, env, pipeline)
    if name == "issues":
        from bot.github.dashboard import prefilter as dashboard_prefilter

        reason = dashboard_prefilter(payload)
        if reason:
            print(f"rightsizer: ignored: {reason}")
            return 0
        return run_command.run(args, env, pipeline, event=(name, payload))
    if name != "issue_comment":
        print(f"rightsizer: nothing to do for the {name!r} event")
        return 0

    from bot.github.comments import handle_comment, prefilter

    reason = prefilter(payload)
    if reason:
        print(f"rightsizer: ignored: {reason}")
        return 0
    if args.dry_run:
        print("rightsizer: dry run: comment commands are not executed")
        return 0
    try:
        session = run_command.make_session(args, env, pipeline)
        outcome = handle_comment(session.repo, payload, bot_login=session.target.bot_login,
                                 runner=_SessionRunner(session))
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001
        code = run_command.fail_cleanly(exc)
        if code is None:
            raise
        return code
    print(f"rightsizer: comment command: {outcome.status}: {outcome.detail}")
    return 1 if outcome.status == "failed" else 0
