"""Publishing one plan scope as one commit on one branch and one PR, through PyGithub.

Each run rebuilds ``rightsizer/<scope>`` from the commit the plan was computed on (one
commit: blobs → tree → commit, no author/committer so GitHub signs it as itself) and moves
the branch with a forced ref update. The PR for that branch (found by head branch and bot
author) is created once and then only edited when its title, body or labels really change.
What the bot must remember between runs lives in the PR body (see ``bot.github.state``).

Every write is preceded by the read that makes it idempotent: a retried POST can land
twice, so we look for the PR before creating one and for a comment's marker before
posting it again.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Iterable, Mapping

import requests
from github import GithubException, InputGitTreeElement
from github.PullRequest import PullRequest
from github.Repository import Repository

from bot.github import body as prbody
from bot.github import state as prstate
from bot.github.state import PrState
from bot.policy import Overrides

if TYPE_CHECKING:  # the pipeline is the producer; we only read these fields
    from bot.pipeline import PullRequestDraft

BRANCH_PREFIX = "rightsizer/"
DEFAULT_BOT_LOGIN = "github-actions[bot]"
RETRY_PAUSE = 1.0  # seconds per backoff step between confirmed POST attempts (tests lower it)
_RUN_LINK = re.compile(r"\(https?://[^)\s]*/actions/runs/\d+[^)\s]*\)")


class PublishError(RuntimeError):
    """A state of the repository the bot must not resolve by itself (explained for humans)."""


def branch_for(scope: str) -> str:
    return BRANCH_PREFIX + scope


@dataclass
class Target:
    """Where and as whom we publish (values, not globals)."""

    repo: Repository
    base: str  # base branch name
    bot_login: str | None = DEFAULT_BOT_LOGIN  # None: any Bot account (installation tokens)
    base_sha: str | None = None  # the commit the plan was computed on (the checkout's HEAD)
    run_url: str | None = None

    def resolved_base_sha(self) -> str:
        # Parent = what the files were computed from; a newer base head could contain edits to
        # the same files that our full-content blobs would silently revert.
        if not self.base_sha:
            self.base_sha = self.repo.get_git_ref(f"heads/{self.base}").object.sha
        return self.base_sha


@dataclass
class Published:
    scope: str
    action: str  # created | updated | unchanged | paused | closed | declined | none
    pr_number: int | None = None
    pr_url: str | None = None
    commit_sha: str | None = None
    messages: list[str] = field(default_factory=list)


# --- reading what is there ------------------------------------------------------------

def find_pull(target: Target, scope: str, state: str = "open") -> PullRequest | None:
    """The bot's PR for ``scope`` (head branch and author both match); newest first."""
    owner = target.repo.owner.login
    pulls = target.repo.get_pulls(state=state, head=f"{owner}:{branch_for(scope)}", base=target.base,
                                  sort="created", direction="desc")
    for pr in pulls:
        if is_ours(pr.user, target.bot_login) and pr.head.ref == branch_for(scope):
            return pr
    return None


def is_ours(user: Any, bot_login: str | None) -> bool:
    """Authored by the bot: its exact login when known, else any Bot account (a human's PR
    from a ``rightsizer/*`` branch is never taken over)."""
    if bot_login:
        return user.login == bot_login
    return user.type == "Bot"


def read_state(target: Target, scope: str) -> tuple[PullRequest | None, PrState]:
    """The open PR and its state; without one, the skips and pins of the last closed PR
    carry over (they were asked for by people and must not vanish when a plan empties)."""
    pr = find_pull(target, scope, "open")
    if pr is not None:
        return pr, prstate.parse(pr.body)
    closed = find_pull(target, scope, "closed")
    if closed is None:
        return None, PrState()
    old = prstate.parse(closed.body)
    # Closed unmerged by a person = "not this plan": remember it so the same plan is not reopened.
    declined = old.fingerprint if closed.merged_at is None and not old.closed_by_bot else ""
    return None, PrState(skips=old.skips, pins=old.pins, declined=declined, dropped=old.dropped)


def merged_overrides(states: Iterable[PrState]) -> Overrides:
    skips: set[str] = set()
    pins: dict[str, Any] = {}
    for st in states:
        skips.update(st.skips)
        for p in st.pins:
            pins[p.ref] = p
    return Overrides(skips=tuple(sorted(skips)), pins=tuple(pins[k] for k in sorted(pins)))


def _branch_head(target: Target, scope: str) -> str | None:
    try:
        return target.repo.get_git_ref(f"heads/{branch_for(scope)}").object.sha
    except GithubException as exc:
        if exc.status == 404:
            return None
        raise


# --- content addressing ---------------------------------------------------------------

def git_blob_sha(content: bytes) -> str:
    """The id git (and GitHub) gives this content as a blob."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def files_digest(files: Mapping[str, bytes]) -> str:
    h = hashlib.sha256()
    for path in sorted(files):
        h.update(path.encode() + b"\0" + git_blob_sha(files[path]).encode() + b"\n")
    return h.hexdigest()[:32]


# --- writing --------------------------------------------------------------------------

def write_commit(repo: Repository, base_sha: str, files: Mapping[str, bytes], message: str) -> str:
    """One commit on top of ``base_sha`` replacing ``files``; returns its sha.

    No author or committer: GitHub then authors the commit as the token's identity and
    signs it, which is what lets branch protection that requires signed commits pass."""
    from bot.safefs import PathRefused, repo_relative

    for path in files:  # the tree API must only ever see clean repository paths
        try:
            if repo_relative(path) != path:
                raise PathRefused(f"{path!r} is not in canonical form")
        except PathRefused as exc:
            raise PublishError(f"refusing to commit {path!r}: {exc}") from None
    base = repo.get_git_commit(base_sha)
    elements = []
    for path in sorted(files):
        blob = repo.create_git_blob(_b64(files[path]), "base64")
        elements.append(InputGitTreeElement(path=path, mode="100644", type="blob", sha=blob.sha))
    tree = repo.create_git_tree(elements, base_tree=base.tree)
    commit = repo.create_git_commit(message, tree, [base])
    return commit.sha


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode("ascii")


def move_branch(repo: Repository, branch: str, sha: str) -> None:
    """Point ``branch`` at ``sha`` (forced): update it, or create it if it does not exist."""
    try:
        repo.get_git_ref(f"heads/{branch}").edit(sha, force=True)
        return
    except GithubException as exc:
        if exc.status not in (404, 422):
            raise
    try:
        repo.create_git_ref(f"refs/heads/{branch}", sha)
    except GithubException as exc:
        # 422 "Reference already exists": a concurrent or retried create won; force it to our sha.
        if exc.status != 422:
            raise
        repo.get_git_ref(f"heads/{branch}").edit(sha, force=True)


def add_labels(pr: PullRequest, names: list[str]) -> None:
    """Add labels, confirmed: when the POST fails, the labels are read back before giving up
    (the request may have landed and only its response got lost)."""
    # PyGithub's add_to_labels posts a bare JSON array, which GitHub tolerates but does not
    # document; send the documented ``{"labels": [...]}`` object instead.
    try:
        pr._requester.requestJsonAndCheck("POST", f"{pr.issue_url}/labels", input={"labels": list(names)})
    except (GithubException, requests.exceptions.RequestException):
        _, data = pr._requester.requestJsonAndCheck("GET", f"{pr.issue_url}/labels", parameters={"per_page": 100})
        if not set(names) <= {l.get("name") for l in data or []}:
            raise


def _comparable(body: str | None) -> str:
    # The run link changes every run; it alone is no reason to edit the PR.
    return _RUN_LINK.sub("(run)", (body or "").replace("\r\n", "\n")).rstrip()


def _has_marker_comment(pr: PullRequest, marker: str) -> bool:
    return any(marker in (c.body or "") for c in pr.get_issue_comments())


def post_once(pr: PullRequest, kind: str, key: str, text: str) -> bool:
    """Post ``text`` unless a comment with the same kind/key marker is already there."""
    marker = f"<!-- rightsizer-{kind}: {key} -->"
    if _has_marker_comment(pr, marker):
        return False
    post_confirmed(pr, f"{text}\n\n{marker}", marker)
    return True


POST_ATTEMPTS = 3


def post_confirmed(pr: PullRequest, text: str, marker: str) -> None:
    """Create a comment whose body holds ``marker``, at most once: a POST is never repeated
    blindly (a lost response would duplicate the comment); after a failure the comments are
    searched for the marker first, and only a comment that is really missing is posted again."""
    from bot.github.client import confirm_before_retry

    for attempt in range(1, POST_ATTEMPTS + 1):
        try:
            with confirm_before_retry():
                pr.create_issue_comment(text)
            return
        except (GithubException, requests.exceptions.RequestException) as exc:
            if _has_marker_comment(pr, marker):
                return
            status = getattr(exc, "status", 0) or 0
            if attempt == POST_ATTEMPTS or (400 <= status < 500 and status not in (403, 429)):
                raise
            time.sleep(min(2.0 ** attempt, 10.0) * RETRY_PAUSE)


# --- rationale ------------------------------------------------------------------------

def rationale(old: PrState, new_lines: Iterable[str], new_overrides: Overrides, reason: str | None,
              base_sha: str | None = None) -> str:
    """What changed in the plan since the last run, and why (a diff, not a copy of the body)."""
    new_lines = list(new_lines)
    before, after = set(old.summary_lines), set(new_lines)
    added = [l for l in new_lines if l not in before]
    dropped = [l for l in old.summary_lines if l not in after]
    out = ["### The plan changed since the last run", ""]
    why = reason or "new measurements or a changed policy/base branch moved the recommendations"
    out.append(f"**Why:** {why}.")
    if base_sha and old.base_sha and base_sha != old.base_sha:
        out.append(f"**Base branch moved:** {old.base_sha[:12]} → {base_sha[:12]} (the files were patched anew).")
    new_skips = [s for s in new_overrides.skips if s not in old.skips]
    old_pins = {p.ref: p for p in old.pins}
    new_pins = [p for p in new_overrides.pins if old_pins.get(p.ref) != p]
    if new_overrides.skips:
        out.append("**Skips in effect:** " + ", ".join(
            f"`{s}`" + (" (new)" if s in new_skips else "") for s in new_overrides.skips))
    if new_overrides.pins:
        out.append("**Pins in effect:** " + ", ".join(
            f"`{p.ref}`" + (" (new)" if p in new_pins else "") for p in new_overrides.pins))
    if added:
        out += ["", "**New or changed:**", *[f"- {l}" for l in added]]
    if dropped:
        out += ["", "**No longer proposed (or replaced by the lines above):**", *[f"- ~~{l}~~" for l in dropped]]
    if not added and not dropped:
        out += ["", "The list of changes is the same; only details (numbers, node fit or reasons) moved."]
    return "\n".join(out)


# --- the two entry points -------------------------------------------------------------

def publish(
    target: Target,
    draft: "PullRequestDraft",
    report: Mapping[str, Any] | None,
    overrides: Overrides,
    *,
    existing: tuple[PullRequest | None, PrState] | None = None,
    force: bool = False,
    reason: str | None = None,
    node_pool_pr: int | None = None,
) -> Published:
    """Bring branch ``rightsizer/<scope>`` and its PR in line with ``draft``.

    ``force`` (from ``/rightsize rebase``) overwrites commits others pushed to the branch.
    ``reason`` says why this run happened, for the rationale comment.
    ``node_pool_pr`` is the open node-pool PR of the same plan, linked from this one."""
    scope = draft.scope
    branch = branch_for(scope)
    pr, old = existing if existing is not None else read_state(target, scope)
    result = Published(scope, "unchanged")
    head = _branch_head(target, scope)

    if pr is not None and not force and old.branch_sha and head and head not in (old.branch_sha, old.previous_sha):
        return _pause(target, pr, old, head, result)
    if pr is None and old.declined and old.declined == draft.fingerprint and not force:
        result.action = "declined"
        result.messages.append("a person closed the PR with this same plan; not reopening it until the plan changes")
        return result
    if pr is None and head is not None:
        _refuse_foreign_pull(target, branch)

    base_sha = target.resolved_base_sha()
    digest = files_digest(draft.files)
    same_commit = (
        pr is not None and not force and head is not None and head == old.branch_sha
        and old.base_sha == base_sha and old.files_digest == digest
    )
    commit_sha = head if same_commit else write_commit(target.repo, base_sha, draft.files, _commit_message(draft))
    result.commit_sha = commit_sha

    desired = tuple(dict.fromkeys(draft.labels))
    present = {l.name for l in pr.labels} if pr is not None else set()
    # A label we added earlier that is gone now was removed by a human: never re-add it.
    to_add = [l for l in desired if l not in present and l not in old.labels_added]
    new_state = PrState(
        fingerprint=draft.fingerprint,
        branch_sha=commit_sha,
        previous_sha=old.previous_sha if same_commit else (head or ""),
        base_sha=base_sha,
        files_digest=digest,
        labels_added=tuple(dict.fromkeys((*old.labels_added, *to_add))),
        skips=overrides.skips,
        pins=overrides.pins,
        summary_lines=tuple(draft.summary_lines),
        paused=False,
        last_command=old.last_command,
        changes=tuple(getattr(draft, "records", ()) or ()),  # what verification checks after the merge
    )
    text = prbody.compose(draft.body + node_pool_link(node_pool_pr), report, new_state, target.run_url)

    if pr is None:
        pr = find_pull(target, scope)  # a retried or concurrent create may have won
    if pr is None:
        # A PR needs its branch first. Its state claims no label until the labels are confirmed,
        # so a failed label POST is retried by the next run instead of being taken for a removal.
        if not same_commit:
            move_branch(target.repo, branch, commit_sha)
        provisional = replace(new_state, labels_added=old.labels_added)
        pr = _create_pull(target, branch, draft.title, prbody.compose(draft.body, report, provisional, target.run_url))
        result.action = "created"
        if to_add:
            add_labels(pr, to_add)
        if provisional != new_state:
            pr.edit(body=text)
    else:
        # Labels, then the state that records them and the new head, then the branch move: a
        # failure between two steps leaves a state the next run recognises as its own.
        if to_add:
            add_labels(pr, to_add)
        edits: dict[str, str] = {}
        if pr.title != draft.title:
            edits["title"] = draft.title
        if _comparable(pr.body) != _comparable(text):
            edits["body"] = text
        if edits:
            pr.edit(**edits)
            result.action = "updated"
        if not same_commit:
            move_branch(target.repo, branch, commit_sha)
        if old.fingerprint and old.fingerprint != draft.fingerprint:
            post_once(pr, "rationale", draft.fingerprint, rationale(old, draft.summary_lines, overrides, reason, base_sha))
            result.messages.append("posted a rationale comment")
        if not same_commit and result.action == "unchanged":
            result.action = "updated"
    result.pr_number, result.pr_url = pr.number, pr.html_url
    return result


def node_pool_link(number: int | None) -> str:
    if number is None:
        return ""
    return (f"\n\n**Node pool:** the worker-count change this plan proposes is its own PR, #{number}; "
            "the changes held back for want of room here wait for it.\n")


def close_stale(target: Target, scope: str, reason: str, *, existing: tuple[PullRequest | None, PrState] | None = None) -> Published:
    """The plan for ``scope`` is empty: close the open PR (with one comment) and drop the
    branch unless someone else pushed to it."""
    pr, old = existing if existing is not None else read_state(target, scope)
    if pr is None:
        return Published(scope, "none")
    post_once(pr, "closed", old.fingerprint or "empty",
              f"Nothing to change for `{scope}` any more ({reason}), so I am closing this PR. "
              "A future run opens a new one if the measurements call for it.")
    pr.edit(state="closed", body=prstate.strip(pr.body or "") + "\n\n"
            + prstate.render(replace(old, closed_by_bot=True)) + "\n")
    head = _branch_head(target, scope)
    if head is not None and head == old.branch_sha:
        try:
            target.repo.get_git_ref(f"heads/{branch_for(scope)}").delete()
        except GithubException as exc:
            if exc.status not in (404, 422):
                raise
    return Published(scope, "closed", pr.number, pr.html_url)


def _pause(target: Target, pr: PullRequest, old: PrState, head: str, result: Published) -> Published:
    result.action = "paused"
    result.pr_number, result.pr_url, result.commit_sha = pr.number, pr.html_url, head
    result.messages.append(
        f"branch {branch_for(result.scope)} has commits that are not mine ({head[:12]}); not overwriting it"
    )
    if not old.paused:
        post_once(
            pr, "paused", head,
            f"Someone else pushed to `{branch_for(result.scope)}` (now at {head[:12]}), so I will not "
            "overwrite it. Comment `/rightsize rebase` to let me rebuild the branch from the base "
            "branch (this discards those commits).",
        )
        marker = prstate.render(replace(old, paused=True))
        pr.edit(body=prstate.strip(pr.body or "") + "\n\n" + marker + "\n")
    return result


def _refuse_foreign_pull(target: Target, branch: str) -> None:
    """Before touching an existing branch without a PR of ours: is a person's PR using it?"""
    for pr in target.repo.get_pulls(state="open", head=f"{target.repo.owner.login}:{branch}"):
        if not is_ours(pr.user, target.bot_login):
            raise PublishError(
                f"PR #{pr.number} from `{branch}` is by {pr.user.login}, not by the bot; "
                f"close it or delete the branch so Rightsizer can open its own")


def _create_pull(target: Target, branch: str, title: str, text: str) -> PullRequest:
    try:
        return target.repo.create_pull(base=target.base, head=branch, title=title, body=text)
    except GithubException as exc:
        # 422 "A pull request already exists": ours when a retried POST had in fact succeeded.
        if exc.status != 422:
            raise
        again = list(target.repo.get_pulls(state="open", head=f"{target.repo.owner.login}:{branch}"))
        for pr in again:
            if is_ours(pr.user, target.bot_login):
                return pr
        if again:
            raise PublishError(
                f"PR #{again[0].number} from `{branch}` is by {again[0].user.login}, not by the bot; "
                f"close it or delete the branch so Rightsizer can open its own") from exc
        raise


def _commit_message(draft: "PullRequestDraft") -> str:
    lines = [draft.title, ""]
    lines += [f"- {l}" for l in draft.summary_lines[:50]]
    if len(draft.summary_lines) > 50:
        lines.append(f"- … and {len(draft.summary_lines) - 50} more")
    return "\n".join(lines).rstrip() + "\n"
