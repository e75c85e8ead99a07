"""The emulator's issues and events feed keep GitHub's contract and rules: only the author and
people with triage or more may edit an issue, every body edit lands in the repository's events
feed with its actor and the previous body, newest first."""

from __future__ import annotations

import requests

from .emulator import BOT


def patch(github, number: int, body: dict, token: str):
    return requests.patch(f"{github.base_url}/repos/{github.owner}/{github.name}/issues/{number}", json=body,
                          headers={"Authorization": f"token {token}"}, timeout=5)


def test_issue_edits_and_the_events_feed(github, repo):
    github.tokens.update({"tok_octocat": ("octocat", False), "tok_reader": ("reader", False)})
    issue = repo.create_issue(title="Dash", body="hello", labels=["rightsizer-dashboard"])
    assert issue.number == 1 and issue.user.login == BOT
    assert [i.number for i in repo.get_issues(state="all", labels=["rightsizer-dashboard"])] == [1]
    assert list(repo.get_issues(labels=["other"])) == []
    issue.edit(body="bot edit")
    assert patch(github, 1, {"body": "octo edit"}, "tok_octocat").status_code == 200
    refused = patch(github, 1, {"body": "reader edit"}, "tok_reader")
    assert refused.status_code == 403  # a read-only user cannot edit someone else's issue
    assert repo.get_issue(1).body == "octo edit"
    feed = [(e.type, e.actor.login, e.payload.get("action"), (e.payload.get("changes") or {}).get("body"))
            for e in repo.get_events()]
    assert feed == [("IssuesEvent", "octocat", "edited", {"from": "bot edit"}),
                    ("IssuesEvent", BOT, "edited", {"from": "hello"}),
                    ("IssuesEvent", BOT, "opened", None)]


def test_pull_requests_list_as_issues_with_their_pull_request_link(github, repo):
    from .emulator import Pull

    github.pulls[1] = Pull(1, "pr", "", "rightsizer/resources", "main", BOT, labels=["rightsizer"])
    [item] = repo.get_issues(state="all")
    assert item.number == 1 and item.pull_request is not None


def test_a_payload_matching_no_documented_alternative_is_still_a_violation(spec):
    # GitHub's event payload is a oneOf whose alternatives overlap (public-event requires nothing),
    # so matching several is what GitHub answers; matching none (here: not an object) is an error.
    event = {"id": "1", "type": "IssuesEvent", "actor": {"id": 1, "login": "a", "gravatar_id": "", "url": "https://x/a",
             "avatar_url": "https://x/a.png"}, "repo": {"id": 1, "name": "o/r", "url": "https://x/r"},
             "payload": {"action": "edited"}, "public": False, "created_at": None}
    assert spec.check_response("GET", "/repos/o/r/events", 200, [event]) == []
    assert any("payload" in p for p in spec.check_response("GET", "/repos/o/r/events", 200, [{**event, "payload": "x"}]))
    assert any("'actor' is a required property" in p for p in spec.check_response(
        "GET", "/repos/o/r/events", 200, [{k: v for k, v in event.items() if k != "actor"}]))
