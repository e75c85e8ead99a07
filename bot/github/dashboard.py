"""The dashboard issue: one per repository, found by its label and hidden marker, created once,
then edited in place; its checkboxes steer the next run.

Who ticked a box? The issue body does not say, and not only writers can edit it (other Apps
with the issues permission, custom roles, someone whose access was removed since). So a
change counts only when GitHub names its editor and that editor has write access now: the
``issues: edited`` webhook that started this run (``sender`` and ``changes.body.from``), and
the repository's events feed (``IssuesEvent`` ``edited``, with ``actor`` and
``changes.body.from``) for edits made between runs. A box whose change no event explains, or
that someone without write access made, is reset and listed in the issue.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Mapping

from github import GithubException
from github.Issue import Issue

from bot.github.comments import WRITE_ROLES
from bot.github.publish import Target, is_ours
from bot.report import dashboard_markdown as dm
from bot.report.dashboard_markdown import DashState, Ignored

LABEL = "rightsizer-dashboard"
DEFAULT_TITLE = "Rightsizer dashboard"
MAX_EVENTS = 300  # GitHub's events feed holds the latest 300 events (30 days at most)


@dataclass(frozen=True)
class Settings:
    enabled: bool = True
    title: str = DEFAULT_TITLE


def settings_from_policy(raw: Mapping[str, Any] | None) -> Settings:
    raw = raw or {}
    return Settings(enabled=raw.get("enabled", True) is not False, title=str(raw.get("title") or DEFAULT_TITLE))


@dataclass(frozen=True)
class Edit:
    """One change of the issue body, as GitHub reports it: who, the body before, when."""

    actor: str
    before: str
    at: str
    after: str | None = None  # known for the webhook edit; else the next edit's "before"


@dataclass
class Steering:
    """What the dashboard asks of this run."""

    issue: Issue | None = None
    state: DashState = field(default_factory=DashState)
    recompute: bool = False
    ignored: list[Ignored] = field(default_factory=list)
    accepted: dict[str, bool] = field(default_factory=dict)

    @property
    def includes(self) -> tuple[str, ...]:
        return self.state.includes

    @property
    def skips(self) -> tuple[str, ...]:
        return self.state.skips


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


MAX_SCAN = 300  # open issues looked through when the label is gone


def find(target: Target) -> Issue | None:
    """The dashboard: the oldest issue with our label and marker authored by the bot. When a
    person removed the label, the marker still finds it among the open issues (and the label
    is not forced back): a missing label must never cause a second dashboard."""
    def ours(issues: Iterable[Issue]) -> list[Issue]:
        return [i for i in issues if i.pull_request is None and dm.MARKER in (i.body or "")
                and is_ours(i.user, target.bot_login)]

    found = ours(target.repo.get_issues(state="all", labels=[LABEL], sort="created", direction="asc"))
    if not found:
        scan = target.repo.get_issues(state="open", sort="created", direction="asc")
        found = ours(i for n, i in enumerate(scan) if n < MAX_SCAN)
    return found[0] if found else None


def webhook_edit(payload: Mapping[str, Any] | None, number: int) -> Edit | None:
    """The edit an ``issues: edited`` event reports, when it is one of the dashboard's body."""
    if not payload or payload.get("action") != "edited":
        return None
    issue, sender = payload.get("issue") or {}, payload.get("sender") or {}
    before = ((payload.get("changes") or {}).get("body") or {}).get("from")
    if issue.get("number") != number or not isinstance(before, str) or not sender.get("login"):
        return None
    return Edit(str(sender["login"]), before, str(issue.get("updated_at") or _now()), after=issue.get("body") or "")


def feed_edits(target: Target, number: int, since: str) -> list[Edit]:
    """Edits of issue ``number`` after ``since`` from the repository's events feed, oldest first."""
    found = []
    for n, ev in enumerate(target.repo.get_events()):
        if n >= MAX_EVENTS:
            break
        created = ev.created_at.strftime("%Y-%m-%dT%H:%M:%SZ") if ev.created_at else ""
        if since and created and created < since:
            break  # newest first: the rest is older still
        p = ev.payload or {}
        before = ((p.get("changes") or {}).get("body") or {}).get("from")
        if (ev.type == "IssuesEvent" and p.get("action") == "edited" and (p.get("issue") or {}).get("number") == number
                and isinstance(before, str) and ev.actor is not None):
            found.append(Edit(ev.actor.login, before, created))
    return list(reversed(found))


def chain(edits: Iterable[Edit], current: str) -> list[Edit]:
    """Edits in order, each with the body it produced (the next edit's "before", or today's body)."""
    # The webhook's edit may also be in the feed: the same (actor, body before) next to itself in time
    # is one edit. The same pair again after other edits is a person repeating a change, and counts.
    ordered: list[Edit] = []
    for e in sorted(edits, key=lambda e: e.at):
        if not ordered or (ordered[-1].actor, ordered[-1].before) != (e.actor, e.before):
            ordered.append(e)
    return [replace(e, after=ordered[i + 1].before if i + 1 < len(ordered) else current)
            for i, e in enumerate(ordered)]


def who_flipped(box: str, value: bool, edits: list[Edit]) -> str | None:
    """The actor of the last edit that set ``box`` to ``value``, or None."""
    for e in reversed(edits):
        before, after = dm.boxes(e.before).get(box), dm.boxes(e.after).get(box)
        if after == value and before != value:
            return e.actor
    return None


class Permissions:
    """Repository permission per login, asked once per run."""

    def __init__(self, repo: Any):
        self.repo = repo
        self.cache: dict[str, str] = {}

    def role(self, login: str) -> str:
        if login not in self.cache:
            try:
                self.cache[login] = self.repo.get_collaborator_permission(login)
            except GithubException as exc:
                if exc.status != 404:
                    raise
                self.cache[login] = "none"
        return self.cache[login]


def read(target: Target, settings: Settings, payload: Mapping[str, Any] | None = None) -> Steering:
    """The dashboard's requests for this run, counting only changes GitHub attributes to writers."""
    if not settings.enabled:
        return Steering()
    issue = find(target)
    if issue is None:
        return Steering()
    state = dm.parse_state(issue.body)
    changed = dm.flips(state, issue.body)
    steering = Steering(issue=issue, state=state)
    if not changed:
        return steering
    edits = feed_edits(target, issue.number, state.since)
    hook = webhook_edit(payload, issue.number)
    if hook is not None:
        edits.append(hook)
    perms = Permissions(target.repo)
    steering.accepted, steering.ignored = decide(changed, chain(edits, issue.body or ""), perms.role)
    steering.recompute = steering.accepted.pop("recompute", False)
    steering.state = dm.apply_flips(state, steering.accepted, steering.ignored)
    return steering


def decide(changed: Mapping[str, bool], edits: list[Edit],
           role: Callable[[str], str]) -> tuple[dict[str, bool], list[Ignored]]:
    """Which changed boxes count: those whose last change GitHub attributes to a writer.

    The bot's own edits never qualify as that last change: they only ever write the accepted
    state, so a box differing from it was set by someone after. Other bots (Apps with the
    issues permission) are asked about like people: not collaborators, so not counted."""
    accepted: dict[str, bool] = {}
    ignored: list[Ignored] = []
    for box, value in sorted(changed.items()):
        actor = who_flipped(box, value, edits)
        if actor is None:
            ignored.append(Ignored("unknown", dm.box_label(box), "no issue event names who changed it "
                                   "(GitHub's events feed can lag); change it again"))
        elif role(actor) in WRITE_ROLES:
            accepted[box] = value
        else:
            ignored.append(Ignored(actor, dm.box_label(box), f"{actor} has no write access ({role(actor)})"))
    return accepted, ignored


def write(target: Target, settings: Settings, steering: Steering, view: dm.DashboardView) -> tuple[str, int | None]:
    """Create the issue once or edit it when its text really changed. Returns (action, number)."""
    if not settings.enabled:
        return "disabled", None
    view.state = replace(steering.state, since=_now())
    body = dm.render(view)
    issue = steering.issue or find(target)  # a retried or concurrent create may have won
    if issue is None:
        issue = target.repo.create_issue(title=settings.title, body=body, labels=[LABEL])
        _close_duplicates(target, issue)
        return "created", issue.number
    if issue.state == "closed":
        return "closed", issue.number  # a person closed it: leave it be (dashboard.enabled: false stops it)
    if steering.issue is not None and _edited_since_read(target, steering.issue):
        # Writing now would undo a tick made while this run worked, and move "since" past it.
        return "edited meanwhile; left for the next run", issue.number
    if dm.comparable(issue.body) == dm.comparable(body) and not steering.accepted and not steering.ignored:
        return "unchanged", issue.number
    issue.edit(body=body)  # the title is set once: a person may rename the issue
    return "updated", issue.number


def _edited_since_read(target: Target, read: Issue) -> bool:
    return (target.repo.get_issue(read.number).body or "") != (read.body or "")


def _close_duplicates(target: Target, keep: Issue) -> None:
    """A POST retried after a lost response can create a second issue: close every one but the oldest."""
    first = find(target)
    if first is None or first.number == keep.number:
        return
    keep.edit(state="closed", body=(keep.body or "").replace(dm.MARKER, "") + f"\n\nDuplicate of #{first.number}.")


def prefilter(payload: Mapping[str, Any]) -> str | None:
    """Why an ``issues`` event is not a dashboard edit to act on (no API call needed), or None."""
    issue, sender = payload.get("issue") or {}, payload.get("sender") or {}
    if payload.get("action") != "edited":
        return f"issue {payload.get('action')}: only edits of the dashboard steer a run"
    if LABEL not in {l.get("name") for l in issue.get("labels") or [] if isinstance(l, dict)}:
        return "not the dashboard issue"
    if sender.get("type") == "Bot" or str(sender.get("login", "")).endswith("[bot]"):
        return f"edit by bot {sender.get('login')}"
    if "body" not in (payload.get("changes") or {}):
        return "the body did not change"
    return None
