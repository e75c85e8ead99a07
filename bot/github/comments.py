"""Handling ``/rightsize`` comments on the bot's PRs.

Order matters for manners and safety: cheap filters first (edited/deleted comments, plain
issues, bots, comments that are not commands, PRs that are not ours), then 👀 so the person
knows we saw it, then the authoritative permission check (``author_association`` cannot be
trusted alone: members of private orgs show as CONTRIBUTOR or NONE), then the command.
Every path ends in a reply and 👍 or 😕; no input crashes the handler.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Protocol

from github import GithubException
from github.Repository import Repository

from bot.github import state as prstate
from bot.github.body import COMMANDS_HELP
from bot.github.commands import CommandError, is_command, parse
from bot.github.publish import BRANCH_PREFIX, Published, is_ours, post_confirmed
from bot.policy import Overrides
from bot.redact import redact

WRITE_ROLES = {"admin", "maintain", "write"}
# MANNEQUIN is a placeholder for an imported, unclaimed account: it cannot hold any permission.
NEVER_AUTHORISED = {"MANNEQUIN"}
MAX_REPLY = 60_000


class Runner(Protocol):
    """What a command needs from the rest of the bot (wired in ``bot.commands.event``)."""

    def recompute(self, *, force: bool, reason: str) -> list[Published]: ...

    def explain(self, ref: str) -> str: ...


@dataclass
class Outcome:
    status: str  # ignored | refused | invalid | done | failed
    detail: str = ""
    reply: str | None = None
    reactions: list[str] = field(default_factory=list)
    caught_up: list["Outcome"] = field(default_factory=list)  # earlier commands handled in this run


def _get(d: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(d, Mapping):
            return None
        d = d.get(key)
    return d


def prefilter(payload: Mapping[str, Any]) -> str | None:
    """Why this event is not a command for us (no API call needed), or None."""
    action = _get(payload, "action")
    body = _get(payload, "comment", "body")
    login = _get(payload, "comment", "user", "login") or ""
    if action != "created":
        return f"comment {action}: only new comments are commands"
    if not _get(payload, "issue", "pull_request"):
        return "comment on an issue, not a pull request"
    if not isinstance(body, str) or not is_command(body):
        return "not a /rightsize command"
    if _get(payload, "comment", "user", "type") == "Bot" or login.endswith("[bot]"):
        return f"comment by bot {login}"
    if not isinstance(_get(payload, "issue", "number"), int) or not isinstance(_get(payload, "comment", "id"), int) or not login:
        return "payload lacks issue number, comment id or user"
    return None


def handle_comment(repo: Repository, payload: Mapping[str, Any], *, bot_login: str | None, runner: Runner) -> Outcome:
    """Handle the command in ``payload`` and, first, any earlier command on the same PR whose
    run GitHub dropped (a concurrency group keeps only one waiting run). Each command is
    handled once: the newest handled comment id is kept in the PR's state."""
    skip = prefilter(payload)
    if skip:
        return Outcome("ignored", skip)
    number: int = _get(payload, "issue", "number")
    comment_id: int = _get(payload, "comment", "id")
    try:
        pr = repo.get_pull(number)
    except GithubException as exc:
        if exc.status == 404:
            return Outcome("ignored", f"PR #{number} not found")
        raise
    if not is_ours(pr.user, bot_login) or not pr.head.ref.startswith(BRANCH_PREFIX):
        return Outcome("ignored", f"PR #{number} is not a Rightsizer PR")
    seen = prstate.parse(pr.body).last_command
    if comment_id <= seen:
        return Outcome("ignored", f"comment {comment_id} was handled already")

    earlier = [_Pending(c.id, c.body or "", c.user.login, c.author_association)
               for c in _missed_commands(pr, seen, comment_id, _get(payload, "comment", "created_at"))]
    trigger = _Pending(comment_id, _get(payload, "comment", "body"), _get(payload, "comment", "user", "login"),
                       _get(payload, "comment", "author_association"))
    caught_up: list[Outcome] = []
    out = Outcome("ignored")
    for item in (*earlier, trigger):
        try:
            out = _handle_one(repo, pr, item, runner)
        finally:
            # Handled once, whatever happened: a command that failed must not be replayed by
            # every later command on this PR.
            pr = repo.get_pull(number)  # the command may have rewritten the body
            _save_state(pr, replace(prstate.parse(pr.body), last_command=item.id))
        if item is not trigger:
            caught_up.append(out)
    out.caught_up = caught_up
    return out


@dataclass(frozen=True)
class _Pending:
    id: int
    body: str
    login: str
    association: Any


CATCH_UP_WINDOW_SECONDS = 6 * 3600


def _missed_commands(pr: Any, seen: int, before: int, created_at: Any) -> list[Any]:
    """Command comments between the last handled one and ``before`` that nobody handled:
    not by bots, not edited since (an edit is not a command), and recent (never replay
    commands from long ago on a PR that predates the bookkeeping)."""
    from datetime import datetime, timedelta, timezone

    try:
        now = datetime.fromisoformat(str(created_at).replace("Z", "+00:00"))
    except ValueError:
        now = datetime.now(timezone.utc)
    oldest = now - timedelta(seconds=CATCH_UP_WINDOW_SECONDS)
    found = []
    for c in pr.get_issue_comments():
        if not (seen < c.id < before) or not is_command(c.body):
            continue
        if c.user.type == "Bot" or c.user.login.endswith("[bot]"):
            continue
        created = c.created_at if c.created_at.tzinfo else c.created_at.replace(tzinfo=timezone.utc)
        updated = c.updated_at if c.updated_at.tzinfo else c.updated_at.replace(tzinfo=timezone.utc)
        if updated != created or created < oldest:
            continue
        found.append(c)
    return sorted(found, key=lambda c: c.id)


def _handle_one(repo: Repository, pr: Any, item: _Pending, runner: Runner) -> Outcome:
    login = item.login
    comment = pr.get_issue_comment(item.id)
    out = Outcome("done")

    def react(kind: str) -> None:
        try:
            comment.create_reaction(kind)
            out.reactions.append(kind)
        except GithubException:
            pass  # a missing reaction must not hide the reply

    def reply(text: str) -> None:
        text = f"@{login} {text}"
        if len(text) > MAX_REPLY:
            text = text[: MAX_REPLY - 40].rsplit("\n", 1)[0] + "\n\n_(trimmed)_"
        out.reply = text
        marker = f"<!-- rightsizer-reply: {item.id} -->"
        post_confirmed(pr, f"{text}\n\n{marker}", marker)

    react("eyes")
    if not _authorised(repo, login, item.association):
        out.status, out.detail = "refused", f"{login} lacks write access"
        reply("only people with write access to this repository can run `/rightsize` commands.")
        react("confused")
        return out
    try:
        command = parse(item.body)
    except CommandError as err:
        out.status, out.detail = "invalid", str(err)
        reply(f"{err}\n\n<details><summary>Commands</summary>\n\n{COMMANDS_HELP}\n\n</details>")
        react("confused")
        return out

    try:
        text = _execute(command, pr, login, runner)
    except Exception as exc:  # noqa: BLE001 - the person gets an answer, the log gets the detail
        out.status, out.detail = "failed", f"{type(exc).__name__}: {exc}"
        reply(f"`/rightsize {command.verb}` failed: {redact(_one_line(exc))}. The workflow run log has the details.")
        react("confused")
        return out
    reply(text)
    react("+1")
    out.detail = command.verb
    return out


def _authorised(repo: Repository, login: str, association: Any) -> bool:
    if association in NEVER_AUTHORISED:
        return False
    try:
        permission = repo.get_collaborator_permission(login)
    except GithubException as exc:
        if exc.status == 404:  # not a collaborator at all
            return False
        raise
    return permission in WRITE_ROLES


def _save_state(pr: Any, new: prstate.PrState) -> None:
    pr.edit(body=prstate.strip(pr.body or "") + "\n\n" + prstate.render(new) + "\n")


def _execute(command: Any, pr: Any, login: str, runner: Runner) -> str:
    verb = command.verb
    if verb == "help":
        return "here is what I understand:\n\n" + COMMANDS_HELP
    if verb in ("skip", "pin"):
        old = prstate.parse(pr.body)
        new = old.with_skip(command.ref) if verb == "skip" else old.with_pin(command.pin)
        if new != old:
            _save_state(pr, new)
        what = f"skip `{command.ref}`" if verb == "skip" else f"pin `{command.ref}` ({_pin_text(command.pin)})"
        return (f"noted: {what}. It is kept in this PR's hidden state and applies from the next run; "
                "comment `/rightsize recompute` to apply it now.")
    if verb == "explain":
        return runner.explain(command.ref)
    results = runner.recompute(force=verb == "rebase", reason=f"@{login} commented `/rightsize {verb}`")
    return "done. " + (" ".join(_describe(r) for r in results) or "Nothing to publish.")


def _pin_text(pin: Any) -> str:
    from bot.quantity import human

    parts = []
    if pin.cpu is not None:
        parts.append(f"cpu {human('cpu', pin.cpu)}")
    if pin.memory is not None:
        parts.append(f"memory {human('memory', pin.memory)}")
    return ", ".join(parts)


def _describe(r: Published) -> str:
    where = f" #{r.pr_number}" if r.pr_number else ""
    words = {
        "created": f"Opened{where} for `{r.scope}`.",
        "updated": f"Updated{where} (`{r.scope}`).",
        "unchanged": f"`{r.scope}`{where}: the plan is the same, nothing to update.",
        "paused": f"`{r.scope}`{where}: the branch has commits that are not mine; `/rightsize rebase` overwrites them.",
        "closed": f"Closed{where}: nothing left to change for `{r.scope}`.",
        "none": f"`{r.scope}`: nothing to change.",
        "declined": f"`{r.scope}`: the same plan was closed by a person before; not reopening it.",
    }
    return words.get(r.action, f"`{r.scope}`: {r.action}.")


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.replace("`", "'")[:300]
