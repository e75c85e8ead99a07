"""A local GitHub REST API for tests: real HTTP on 127.0.0.1, real git objects, strict contract.

The real PyGithub client talks to it through ``base_url``. Git objects (blobs, trees,
commits, refs) live in a real bare repository, so a test can ``git clone`` it and look at
the branch, the commit and the files. Every request and response is validated against
GitHub's official OpenAPI description; any mismatch is collected in ``violations`` and the
``github`` fixture fails the test. Responses are built from the description's own examples
with our fields filled in, so they carry every property GitHub's schema requires.

Faults (5xx, 403/429 with retry-after, 422) are injected with :meth:`GitHubEmulator.inject`.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .openapi import Spec, load_spec

BOT = "github-actions[bot]"
DOCS = "https://docs.github.com/rest"


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Fault:
    method: str
    path: re.Pattern[str]
    status: int
    headers: dict[str, str]
    body: dict[str, Any]
    times: int
    after: bool = False  # carry the request out, then answer with the fault (a lost response)


@dataclass
class Exchange:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    status: int
    injected: bool = False

    @property
    def is_write(self) -> bool:
        return self.method != "GET"


@dataclass
class Pull:
    number: int
    title: str
    body: str
    head: str
    base: str
    user: str
    state: str = "open"
    labels: list[str] = field(default_factory=list)
    created_at: str = field(default_factory=_now)
    updated_at: str = field(default_factory=_now)
    closed_at: str | None = None
    last_head_sha: str = ""
    merged_at: str | None = None
    merge_commit_sha: str | None = None


@dataclass
class Issue:
    number: int
    title: str
    body: str
    user: str
    state: str = "open"
    labels: list[str] = field(default_factory=list)
    created_at: str = field(default_factory=_now)
    updated_at: str = field(default_factory=_now)
    closed_at: str | None = None


@dataclass
class RepoEvent:
    """One entry of the repository's activity feed (``GET /repos/{owner}/{repo}/events``)."""

    id: int
    type: str
    actor: str
    payload: dict[str, Any]
    created_at: str = field(default_factory=_now)


@dataclass
class Comment:
    id: int
    issue: int
    body: str
    user: str
    created_at: str = field(default_factory=_now)
    updated_at: str = ""


def path_of(rest: str, emu: "GitHubEmulator") -> str:
    return f"/repos/{emu.owner}/{emu.name}{rest}"


class HttpError(Exception):
    def __init__(self, status: int, message: str, extra: dict[str, Any] | None = None):
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra or {}


class GitHubEmulator:
    def __init__(self, bare: Path, owner: str = "octo-org", name: str = "octo-repo", spec: Spec | None = None):
        self.spec = spec or load_spec()
        self.bare = bare
        self.owner, self.name = owner, name
        self.default_branch = "main"
        self.tokens: dict[str, tuple[str, bool]] = {"ghs_actions_token": (BOT, True)}  # token -> (login, is_app)
        self.permissions: dict[str, str] = {}  # login -> admin|maintain|write|triage|read
        self.pulls: dict[int, Pull] = {}
        self.issues: dict[int, Issue] = {}  # plain issues; PRs are issues too (see _issue)
        self.events: list[RepoEvent] = []  # the activity feed, oldest first
        # Roles that may edit an issue someone else opened: write and up (triage may not: it labels,
        # closes and assigns). GitHub Apps with the issues permission may too.
        self.issue_editors = ("write", "maintain", "admin")
        self.comments: dict[int, Comment] = {}
        self.reactions: list[tuple[int, str, str]] = []  # (comment id, content, by)
        self.verified: dict[str, bool] = {}
        self.log: list[Exchange] = []
        self.violations: list[str] = []
        self.faults: list[Fault] = []
        self._next = 1
        self.rate_remaining = 4999  # what X-RateLimit-Remaining reports
        self._lock = threading.RLock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        # A short poll interval: shutdown() waits for the next poll, once per test.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    # --- lifecycle ----------------------------------------------------------------
    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "GitHubEmulator":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- test controls ------------------------------------------------------------
    def inject(self, method: str, path: str, status: int, *, headers: dict[str, str] | None = None,
               message: str = "injected fault", times: int = 1, after: bool = False) -> None:
        body = {"message": message, "documentation_url": DOCS}
        self.faults.append(Fault(method, re.compile(path), status, headers or {}, body, times, after))

    def writes(self) -> list[Exchange]:
        return [e for e in self.log if e.is_write]

    def reset_log(self) -> None:
        self.log.clear()

    def add_comment(self, issue: int, body: str, user: str) -> Comment:
        with self._lock:
            c = Comment(self._id(), issue, body, user)
            self.comments[c.id] = c
            return c

    def merge(self, number: int, merged_at: str | None = None, delete_branch: bool = True) -> str:
        """A person merges PR ``number`` in the web UI: a real merge commit on the base branch
        (git merge-tree), the PR closed as merged, the head branch deleted; returns the commit."""
        with self._lock:
            p = self.pulls[number]
            base, head = self.ref_sha(p.base), self.ref_sha(p.head)
            assert base and head and p.state == "open", f"PR #{number} cannot be merged"
            tree = self.git("merge-tree", "--write-tree", base, head).splitlines()[0]
            when = merged_at or _now()
            stamp = str(int(datetime.fromisoformat(when.replace("Z", "+00:00")).timestamp())) + " +0000"
            sha = self.git("commit-tree", tree, "-p", base, "-p", head,
                           input=f"Merge pull request #{number} from {self.owner}/{p.head}\n".encode(),
                           env={"GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
                                "GIT_COMMITTER_NAME": "GitHub", "GIT_COMMITTER_EMAIL": "noreply@github.com",
                                "GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp})
            self.git("update-ref", f"refs/heads/{p.base}", sha)
            p.last_head_sha = head
            p.state, p.merged_at, p.closed_at, p.merge_commit_sha = "closed", when, when, sha
            if delete_branch:
                self.git("update-ref", "-d", f"refs/heads/{p.head}")
            return sha

    def git(self, *args: str, input: bytes | None = None, env: dict[str, str] | None = None) -> str:
        full_env = {**os.environ, "GIT_DIR": str(self.bare), **(env or {})}
        out = subprocess.run(["git", *args], input=input, capture_output=True, env=full_env, check=True)
        return out.stdout.decode().strip()

    def ref_sha(self, branch: str) -> str | None:
        try:
            return self.git("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}^{{commit}}")
        except subprocess.CalledProcessError:
            return None

    def _id(self) -> int:
        self._next += 1
        return 1000 + self._next

    # --- JSON builders from the description's examples --------------------------------
    def _ex(self, name: str) -> Any:
        text = json.dumps(self.spec.example(name))
        text = text.replace("https://api.github.com", self.base_url)
        text = text.replace("octocat/Hello-World", f"{self.owner}/{self.name}")
        return json.loads(text)

    def _repo_url(self) -> str:
        return f"{self.base_url}/repos/{self.owner}/{self.name}"

    def user(self, login: str) -> dict[str, Any]:
        u = self._ex("simple-user")
        bot = login.endswith("[bot]")
        u.update(login=login, id=abs(hash(login)) % 10**8, type="Bot" if bot else "User",
                 url=f"{self.base_url}/users/{login}", html_url=f"https://github.com/{login}")
        return u

    def _label(self, name: str) -> dict[str, Any]:
        lab = self._ex("label")
        lab.update(name=name, id=abs(hash(name)) % 10**8, url=f"{self._repo_url()}/labels/{name}")
        return lab

    def _git_ref(self, branch: str, sha: str) -> dict[str, Any]:
        return {"ref": f"refs/heads/{branch}", "node_id": "REF_" + branch,
                "url": f"{self._repo_url()}/git/refs/heads/{branch}",
                "object": {"type": "commit", "sha": sha, "url": f"{self._repo_url()}/git/commits/{sha}"}}

    def _git_commit(self, sha: str) -> dict[str, Any]:
        raw = self.git("cat-file", "commit", sha)
        header, _, message = raw.partition("\n\n")
        tree, parents, people = "", [], {}
        for line in header.splitlines():
            key, _, value = line.partition(" ")
            if key == "tree":
                tree = value
            elif key == "parent":
                parents.append(value)
            elif key in ("author", "committer"):
                m = re.match(r"(.*) <(.*)> (\d+) ", value)
                assert m, value
                when = datetime.fromtimestamp(int(m.group(3)), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
                people[key] = {"name": m.group(1), "email": m.group(2), "date": when}
        c = self._ex("git-commit")
        signed = self.verified.get(sha, False)
        c.update(sha=sha, node_id="C_" + sha, url=f"{self._repo_url()}/git/commits/{sha}",
                 html_url=f"https://github.com/{self.owner}/{self.name}/commit/{sha}",
                 author=people["author"], committer=people["committer"], message=message,
                 tree={"sha": tree, "url": f"{self._repo_url()}/git/trees/{tree}"},
                 parents=[{"sha": p, "url": f"{self._repo_url()}/git/commits/{p}",
                           "html_url": f"https://github.com/{self.owner}/{self.name}/commit/{p}"} for p in parents],
                 verification={"verified": signed, "reason": "valid" if signed else "unsigned",
                               "signature": "-----BEGIN PGP SIGNATURE-----" if signed else None,
                               "payload": raw if signed else None, "verified_at": _now() if signed else None})
        return c

    def _git_tree(self, sha: str) -> dict[str, Any]:
        entries = []
        for line in self.git("ls-tree", "-l", sha).splitlines():
            meta, path = line.split("\t", 1)
            mode, kind, obj, size = meta.split()
            e = {"path": path, "mode": mode, "type": kind, "sha": obj,
                 "url": f"{self._repo_url()}/git/{kind}s/{obj}"}
            if kind == "blob":
                e["size"] = int(size)
            entries.append(e)
        return {"sha": sha, "url": f"{self._repo_url()}/git/trees/{sha}", "tree": entries, "truncated": False}

    def _branch_ref(self, name: str, sha: str) -> dict[str, Any]:
        repo = self._repository()
        return {"label": f"{self.owner}:{name}", "ref": name, "sha": sha, "user": self.user(self.owner), "repo": repo}

    def _repository(self) -> dict[str, Any]:
        r = self._ex("full-repository-default-response")
        r.update(name=self.name, full_name=f"{self.owner}/{self.name}", owner=self.user(self.owner),
                 url=self._repo_url(), html_url=f"https://github.com/{self.owner}/{self.name}",
                 default_branch=self.default_branch, language=None, fork=False)
        for key in ("source", "parent", "template_repository"):  # not a fork
            r.pop(key, None)
        return r

    def _pull(self, p: Pull, simple: bool = False) -> dict[str, Any]:
        out = self._ex("pull-request-simple-items")[0] if simple else self._ex("pull-request")
        url = f"{self._repo_url()}/pulls/{p.number}"
        head_sha = self.ref_sha(p.head) or p.last_head_sha
        base_sha = self.ref_sha(p.base) or ""
        out.update(
            url=url, id=p.number * 7, node_id=f"PR_{p.number}", number=p.number,
            html_url=f"https://github.com/{self.owner}/{self.name}/pull/{p.number}",
            issue_url=f"{self._repo_url()}/issues/{p.number}",
            comments_url=f"{self._repo_url()}/issues/{p.number}/comments",
            statuses_url=f"{self._repo_url()}/statuses/{head_sha}",
            commits_url=f"{url}/commits", review_comments_url=f"{url}/comments",
            state=p.state, title=p.title, body=p.body, user=self.user(p.user),
            labels=[self._label(n) for n in p.labels], milestone=None, assignee=None, assignees=[],
            requested_reviewers=[], requested_teams=[], locked=False, active_lock_reason=None,
            created_at=p.created_at, updated_at=p.updated_at, closed_at=p.closed_at, merged_at=p.merged_at,
            merge_commit_sha=p.merge_commit_sha, draft=False, author_association="NONE", auto_merge=None,
            head=self._branch_ref(p.head, head_sha), base=self._branch_ref(p.base, base_sha),
        )
        out["_links"] = {k: {"href": v} for k, v in {
            "self": url, "html": out["html_url"], "issue": out["issue_url"], "comments": out["comments_url"],
            "review_comments": f"{url}/comments", "review_comment": f"{url}/comments{{/number}}",
            "commits": f"{url}/commits", "statuses": out["statuses_url"]}.items()}
        if not simple:
            out.update(merged=p.merged_at is not None, mergeable=True, mergeable_state="clean", merged_by=None, comments=sum(
                1 for c in self.comments.values() if c.issue == p.number), commits=1)
        return out

    def _comment(self, c: Comment) -> dict[str, Any]:
        out = self._ex("issue-comment")
        out.update(id=c.id, node_id=f"IC_{c.id}", url=f"{self._repo_url()}/issues/comments/{c.id}",
                   html_url=f"https://github.com/{self.owner}/{self.name}/{'issues' if c.issue in self.issues else 'pull'}/{c.issue}#issuecomment-{c.id}",
                   issue_url=f"{self._repo_url()}/issues/{c.issue}", body=c.body, user=self.user(c.user),
                   created_at=c.created_at, updated_at=c.updated_at or c.created_at,
                   author_association="NONE" if c.user.endswith("[bot]") else "MEMBER")
        out.pop("pin", None)
        return out

    def _issue_json(self, number: int) -> dict[str, Any]:
        """An issue as GET /issues/{n} shows it; a PR shows as an issue with ``pull_request``."""
        it = self._issue(number)
        out = self._ex("issue")
        url = f"{self._repo_url()}/issues/{number}"
        out.update(
            id=number * 11, node_id=f"I_{number}", url=url, repository_url=self._repo_url(),
            labels_url=f"{url}/labels{{/name}}", comments_url=f"{url}/comments", events_url=f"{url}/events",
            html_url=f"https://github.com/{self.owner}/{self.name}/issues/{number}", number=number,
            state=it.state, title=it.title, body=it.body, user=self.user(it.user),
            labels=[self._label(n) for n in it.labels], assignee=None, assignees=[], milestone=None,
            locked=False, active_lock_reason=None, comments=sum(1 for c in self.comments.values() if c.issue == number),
            created_at=it.created_at, updated_at=it.updated_at, closed_at=it.closed_at, closed_by=None,
            author_association="NONE", state_reason=None,
        )
        for key in ("pull_request", "pinned_comment", "repository", "performed_via_github_app", "reactions",
                    "sub_issues_summary", "issue_dependencies_summary", "type", "issue_field_values",
                    "parent_issue_url", "draft", "timeline_url", "body_html", "body_text"):
            out.pop(key, None)
        if number in self.pulls:
            out["html_url"] = f"https://github.com/{self.owner}/{self.name}/pull/{number}"
            out["pull_request"] = {"url": f"{self._repo_url()}/pulls/{number}", "html_url": out["html_url"],
                                   "diff_url": out["html_url"] + ".diff", "patch_url": out["html_url"] + ".patch",
                                   "merged_at": None}
        return out

    def _actor(self, login: str) -> dict[str, Any]:
        u = self.user(login)
        return {"id": u["id"], "login": login, "display_login": login, "gravatar_id": "",
                "url": u["url"], "avatar_url": u["avatar_url"]}

    def _event_json(self, e: RepoEvent) -> dict[str, Any]:
        return {"id": str(e.id), "type": e.type, "actor": self._actor(e.actor),
                "repo": {"id": 1296269, "name": f"{self.owner}/{self.name}", "url": self._repo_url()},
                "payload": e.payload, "public": False, "created_at": e.created_at}

    def _edit_issue(self, number: int, body: dict[str, Any], login: str) -> dict[str, Any]:
        it = self._issue(number)
        role = self.permissions.get(login)
        if login != it.user and not self.tokens_by_login.get(login, False) and role not in self.issue_editors:
            raise HttpError(403, "Must have admin rights to Repository.")
        old_body, old_title = it.body, it.title
        if "title" in body:
            it.title = str(body["title"])
        if "body" in body:
            it.body = body["body"] or ""
        if body.get("state") in ("open", "closed"):
            it.state = body["state"]
            it.closed_at = _now() if it.state == "closed" else None
        if "labels" in body:
            it.labels = [l if isinstance(l, str) else l["name"] for l in body["labels"]]
        it.updated_at = _now()
        changes = {}
        if it.body != old_body:
            changes["body"] = {"from": old_body}
        if it.title != old_title:
            changes["title"] = {"from": old_title}
        if changes:  # GitHub's IssuesEvent "edited": the actor and the previous body/title
            self.events.append(RepoEvent(self._id(), "IssuesEvent", login,
                                         {"action": "edited", "issue": self._issue_json(number), "changes": changes}))
        return self._issue_json(number)

    # --- routing ------------------------------------------------------------------------
    def _route(self, method: str, path: str, query: dict[str, list[str]], body: Any, login: str) -> tuple[int, Any]:
        prefix = f"/repos/{self.owner}/{self.name}"
        if method == "GET" and path == "/user":
            if self.tokens_by_login.get(login, False):
                raise HttpError(403, "Resource not accessible by integration")
            u = self._ex("private-user")
            u.update(login=login, url=f"{self.base_url}/users/{login}")
            return 200, u
        if not path.startswith(prefix):
            raise HttpError(404, "Not Found")
        rest = path[len(prefix):]
        with self._lock:
            return self._repo_route(method, rest, query, body, login)

    @property
    def tokens_by_login(self) -> dict[str, bool]:
        return {login: app for login, app in self.tokens.values()}

    def _repo_route(self, method: str, rest: str, query: dict[str, list[str]], body: Any, login: str) -> tuple[int, Any]:
        q = {k: v[0] for k, v in query.items()}
        if method == "GET" and rest == "":
            return 200, self._repository()
        m = re.fullmatch(r"/git/ref/heads/(.+)", rest)
        if method == "GET" and m:
            sha = self.ref_sha(m.group(1))
            if not sha:
                raise HttpError(404, "Not Found")
            return 200, self._git_ref(m.group(1), sha)
        m = re.fullmatch(r"/git/commits/([0-9a-f]{40})", rest)
        if method == "GET" and m:
            try:
                return 200, self._git_commit(m.group(1))
            except subprocess.CalledProcessError:
                raise HttpError(404, "Not Found") from None
        if method == "POST" and rest == "/git/blobs":
            data = base64.b64decode(body["content"]) if body.get("encoding") == "base64" else body["content"].encode()
            sha = self.git("hash-object", "-w", "--stdin", input=data)
            return 201, {"url": f"{self._repo_url()}/git/blobs/{sha}", "sha": sha}
        if method == "POST" and rest == "/git/trees":
            return 201, self._git_tree(self._make_tree(body))
        if method == "POST" and rest == "/git/commits":
            return 201, self._git_commit(self._make_commit(body, login))
        m = re.fullmatch(r"/git/refs/heads/(.+)", rest)
        if method == "PATCH" and m:
            return 200, self._move_ref(m.group(1), body["sha"], bool(body.get("force")))
        if method == "DELETE" and m:
            if not self.ref_sha(m.group(1)):
                raise HttpError(422, "Reference does not exist")
            self.git("update-ref", "-d", f"refs/heads/{m.group(1)}")
            return 204, None
        if method == "POST" and rest == "/git/refs":
            ref = body["ref"]
            if not ref.startswith("refs/heads/"):
                raise HttpError(422, "Reference name must start with refs/heads/ here")
            if self.ref_sha(ref[len("refs/heads/"):]):
                raise HttpError(422, "Reference already exists")
            self._check_commit(body["sha"])
            self.git("update-ref", ref, body["sha"])
            return 201, self._git_ref(ref[len("refs/heads/"):], body["sha"])
        if method == "GET" and rest == "/pulls":
            found = [p for p in sorted(self.pulls.values(), key=lambda p: p.number,
                                       reverse=q.get("direction", "desc") == "desc")
                     if (q.get("state", "open") == "all" or p.state == q.get("state", "open"))
                     and ("head" not in q or q["head"] == f"{self.owner}:{p.head}")
                     and ("base" not in q or q["base"] == p.base)]
            return self._page(path_of(rest, self), query, [self._pull(p, simple=True) for p in found])
        if method == "POST" and rest == "/pulls":
            head, base = body["head"], body["base"]
            if not self.ref_sha(head):
                raise HttpError(422, "Validation Failed", {"errors": [{"resource": "PullRequest", "field": "head", "code": "invalid"}]})
            if any(p.head == head and p.state == "open" for p in self.pulls.values()):
                raise HttpError(422, "Validation Failed", {"errors": [{"resource": "PullRequest", "code": "custom",
                                "message": f"A pull request already exists for {self.owner}:{head}."}]})
            p = Pull(self._new_number(), body.get("title", ""), body.get("body") or "", head, base, login)
            self.pulls[p.number] = p
            return 201, self._pull(p)
        m = re.fullmatch(r"/pulls/(\d+)", rest)
        if m:
            p = self.pulls.get(int(m.group(1)))
            if p is None:
                raise HttpError(404, "Not Found")
            if method == "GET":
                return 200, self._pull(p)
            if method == "PATCH":
                if "title" in body:
                    p.title = body["title"]
                if "body" in body:
                    p.body = body["body"]
                if body.get("state") in ("open", "closed"):
                    p.last_head_sha = self.ref_sha(p.head) or p.last_head_sha
                    p.state = body["state"]
                    p.closed_at = _now() if p.state == "closed" else None
                p.updated_at = _now()
                return 200, self._pull(p)
        if method == "GET" and rest == "/issues":
            state = q.get("state", "open")
            wanted = [l for l in q.get("labels", "").split(",") if l]
            numbers = sorted({*self.issues, *self.pulls}, reverse=q.get("direction", "desc") == "desc")
            found = [n for n in numbers
                     if (state == "all" or self._issue(n).state == state)
                     and all(l in self._issue(n).labels for l in wanted)
                     and ("creator" not in q or self._issue(n).user == q["creator"])]
            return self._page(path_of(rest, self), query, [self._issue_json(n) for n in found])
        if method == "POST" and rest == "/issues":
            it = Issue(self._new_number(), str(body["title"]), body.get("body") or "", login,
                       labels=[l if isinstance(l, str) else l["name"] for l in body.get("labels") or []])
            self.issues[it.number] = it
            self.events.append(RepoEvent(self._id(), "IssuesEvent", login,
                                         {"action": "opened", "issue": self._issue_json(it.number)}))
            return 201, self._issue_json(it.number)
        m = re.fullmatch(r"/issues/(\d+)", rest)
        if m:
            number = int(m.group(1))
            if method == "GET":
                return 200, self._issue_json(number)
            if method == "PATCH":
                return 200, self._edit_issue(number, body, login)
        if method == "GET" and rest == "/events":
            if int(q.get("per_page", "30")) > 100:
                raise HttpError(422, "per_page must be 100 or less")
            newest_first = [self._event_json(e) for e in reversed(self.events)][:300]  # GitHub keeps 300
            return self._page(path_of(rest, self), query, newest_first)
        m = re.fullmatch(r"/issues/(\d+)/labels", rest)
        if method == "GET" and m:
            p = self._issue(int(m.group(1)))
            return self._page(path_of(rest, self), query, [self._label(n) for n in p.labels])
        if method == "POST" and m:
            p = self._issue(int(m.group(1)))
            for name in body["labels"] if isinstance(body, dict) else body:
                if name not in p.labels:
                    p.labels.append(name)
            return 200, [self._label(n) for n in p.labels]
        m = re.fullmatch(r"/issues/(\d+)/comments", rest)
        if m:
            number = int(m.group(1))
            self._issue(number)
            if method == "POST":
                c = self.add_comment(number, body["body"], login)
                return 201, self._comment(c)
            if method == "GET":
                mine = [c for c in sorted(self.comments.values(), key=lambda c: c.id) if c.issue == number]
                return self._page(path_of(rest, self), query, [self._comment(c) for c in mine])
        m = re.fullmatch(r"/issues/comments/(\d+)", rest)
        if method == "GET" and m:
            c = self.comments.get(int(m.group(1)))
            if c is None:
                raise HttpError(404, "Not Found")
            return 200, self._comment(c)
        m = re.fullmatch(r"/issues/comments/(\d+)/reactions", rest)
        if method == "POST" and m:
            cid = int(m.group(1))
            if cid not in self.comments:
                raise HttpError(404, "Not Found")
            self.reactions.append((cid, body["content"], login))
            r = self._ex("reaction")
            r.update(id=self._id(), user=self.user(login), content=body["content"], created_at=_now())
            return 201, r
        m = re.fullmatch(r"/collaborators/([^/]+)/permission", rest)
        if method == "GET" and m:
            who = unquote(m.group(1))
            perm = self.permissions.get(who)
            if perm is None:
                raise HttpError(404, "Not Found")
            legacy = {"maintain": "write", "triage": "read"}.get(perm, perm)
            out = self._ex("repository-collaborator-permission-response-if-user-has-admin-permissions")
            out.update(permission=legacy, role_name=perm)
            out["user"] = {**self.user(who), "role_name": perm, "permissions": {
                "admin": perm == "admin", "maintain": perm in ("admin", "maintain"),
                "push": perm in ("admin", "maintain", "write"), "triage": perm != "read", "pull": True}}
            return 200, out
        raise HttpError(404, f"emulator: {method} {rest} not implemented")

    def _page(self, path: str, query: dict[str, list[str]], items: list[Any]) -> tuple[int, Any, dict[str, str]]:
        """One page of a list, with GitHub's ``Link: <…>; rel="next"`` header when more follow."""
        page, per = int(query.get("page", ["1"])[0]), int(query.get("per_page", ["30"])[0])
        headers = {}
        if page * per < len(items):
            from urllib.parse import urlencode

            nxt = {k: v[0] for k, v in query.items()}
            nxt["page"] = str(page + 1)
            headers["Link"] = f'<{self.base_url}{path}?{urlencode(nxt)}>; rel="next"'
        return 200, items[(page - 1) * per: page * per], headers

    def _issue(self, number: int) -> Pull | Issue:
        p = self.pulls.get(number) or self.issues.get(number)
        if p is None:
            raise HttpError(404, "Not Found")
        return p

    def _new_number(self) -> int:
        return max([0, *self.pulls, *self.issues, *(c.issue for c in self.comments.values())]) + 1

    def _check_commit(self, sha: str) -> None:
        try:
            if self.git("cat-file", "-t", sha) != "commit":
                raise HttpError(422, "Object is not a commit")
        except subprocess.CalledProcessError:
            raise HttpError(422, "Object does not exist") from None

    def _make_tree(self, body: dict[str, Any]) -> str:
        with tempfile.TemporaryDirectory() as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            if body.get("base_tree"):
                self.git("read-tree", body["base_tree"], env=env)
            for e in body["tree"]:
                if e.get("sha") is None and "content" not in e:
                    self.git("update-index", "--force-remove", "--", e["path"], env=env)
                    continue
                sha = e.get("sha") or self.git("hash-object", "-w", "--stdin", input=e["content"].encode())
                self.git("update-index", "--add", "--cacheinfo", f"{e['mode']},{sha},{e['path']}", env=env)
            return self.git("write-tree", env=env)

    def _make_commit(self, body: dict[str, Any], login: str) -> str:
        env = {}
        signed = "author" not in body and "committer" not in body and "signature" not in body
        author = body.get("author") or {"name": login, "email": f"41898282+{login}@users.noreply.github.com"}
        # With no author/committer GitHub commits as itself and signs: committer "GitHub".
        committer = body.get("committer") or (
            {"name": "GitHub", "email": "noreply@github.com"} if signed else author)
        env.update(GIT_AUTHOR_NAME=author["name"], GIT_AUTHOR_EMAIL=author["email"],
                   GIT_COMMITTER_NAME=committer["name"], GIT_COMMITTER_EMAIL=committer["email"])
        args = ["commit-tree", body["tree"]]
        for p in body.get("parents", []):
            self._check_commit(p)
            args += ["-p", p]
        sha = self.git(*args, input=body["message"].encode(), env=env)
        self.verified[sha] = signed
        return sha

    def _move_ref(self, branch: str, sha: str, force: bool) -> dict[str, Any]:
        old = self.ref_sha(branch)
        if old is None:
            raise HttpError(422, "Reference does not exist")
        self._check_commit(sha)
        if not force:
            try:
                self.git("merge-base", "--is-ancestor", old, sha)
            except subprocess.CalledProcessError:
                raise HttpError(422, "Update is not a fast forward") from None
        self.git("update-ref", f"refs/heads/{branch}", sha)
        return self._git_ref(branch, sha)

    # --- HTTP -----------------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        emu = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep pytest output clean
                pass

            def _serve(self, method: str) -> None:
                split = urlsplit(self.path)
                path, query = split.path, parse_qs(split.query)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = None
                    emu.violations.append(f"{method} {path}: request body is not JSON")
                status, payload, headers, injected = emu._exchange(method, path, query, body, self.headers)
                data = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def do_PATCH(self) -> None:
                self._serve("PATCH")

            def do_DELETE(self) -> None:
                self._serve("DELETE")

            def do_PUT(self) -> None:
                self._serve("PUT")

        return Handler

    def _exchange(self, method: str, path: str, query: dict[str, list[str]], body: Any, headers: Any) -> tuple[int, Any, dict[str, str], bool]:
        base_headers = {"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": str(self.rate_remaining),
                        "X-RateLimit-Reset": str(int(datetime.now(timezone.utc).timestamp()) + 3600),
                        "X-GitHub-Api-Version-Selected": "2022-11-28"}
        auth = headers.get("Authorization", "")
        token = auth.split(" ", 1)[1] if " " in auth else ""
        lost = None
        extra_headers: dict[str, str] = {}
        with self._lock:
            for f in self.faults:
                if f.times > 0 and f.method == method and f.path.search(path):
                    f.times -= 1
                    if f.after:
                        lost = f
                        break
                    self.log.append(Exchange(method, path, query, body, f.status, injected=True))
                    return f.status, f.body, {**base_headers, **f.headers}, True
        try:
            problems = self.spec.check_request(method, path, body)
        except KeyError as exc:
            problems = [str(exc)]
        self.violations.extend(problems)
        if token not in self.tokens:
            status, payload = 401, {"message": "Bad credentials", "documentation_url": DOCS}
        else:
            login = self.tokens[token][0]
            try:
                status, payload, *more = self._route(method, path, query, body, login)
                extra_headers = more[0] if more else {}
            except HttpError as err:
                status, payload = err.status, {"message": err.message, "documentation_url": DOCS, **err.extra}
                if status == 403:
                    payload["status"] = "403"
            except Exception as exc:  # an emulator bug must fail the test, not hang the client
                self.violations.append(f"emulator crashed on {method} {path}: {exc!r}")
                status, payload = 500, {"message": "emulator error"}
        # 401 "Bad credentials" can answer any operation; GitHub documents it once for the API,
        # not per operation, so only its shape is checked.
        if status == 401:
            if set(payload) != {"message", "documentation_url"}:
                self.violations.append(f"{method} {path}: malformed 401 body {payload}")
        elif status != 500:
            try:
                self.violations.extend(self.spec.check_response(method, path, status, payload))
            except KeyError as exc:
                self.violations.append(str(exc))
        with self._lock:
            self.log.append(Exchange(method, path, query, body, status))
            if lost is not None:
                self.log.append(Exchange(method, path, query, body, lost.status, injected=True))
                return lost.status, lost.body, {**base_headers, **lost.headers}, True
        return status, payload, {**base_headers, **extra_headers}, False
