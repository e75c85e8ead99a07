"""Events from GitHub's real webhook payloads, through `rightsizer event`, against the emulator.

``issue_comment`` and ``workflow_dispatch`` payloads come from ``@octokit/webhooks-examples``.
Its examples are all comments on plain issues; GitHub marks a comment on a PR by an
``issue.pull_request`` object, which we add (with the repository/number/comment id of the
emulated repo) to drive PR commands. ``schedule`` is not a webhook, so there is no example:
Actions gives ``{"schedule": "<cron>", "repository": …, "workflow": …}``, built below.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from bot.cli import build_parser
from bot.commands import event
from bot.github import state as prstate
from .support import TOKEN, git
from .drafts import MINIMAL_SNAPSHOT, HandPlanner
from .emulator import BOT
from .openapi import webhook_examples

SONARR, RADARR = "apps/media/sonarr.yaml", "apps/media/radarr.yaml"
WANTED = {SONARR: ("150m", "300Mi"), RADARR: ("100m", "384Mi")}


@pytest.fixture
def env(github, origin, tmp_path):
    snap = tmp_path / "snapshot.yaml"
    snap.write_text(MINIMAL_SNAPSHOT)
    return {
        "GITHUB_ACTIONS": "true",
        "RIGHTSIZER_GITHUB_TOKEN": TOKEN,
        "GITHUB_REPOSITORY": f"{github.owner}/{github.name}",
        "GITHUB_API_URL": github.base_url,
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_RUN_ID": "7",
        "GITHUB_OUTPUT": str(tmp_path / "output.txt"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "RUNNER_TEMP": str(tmp_path / "runner-temp"),
        "_snapshot": str(snap),
        "_tmp": str(tmp_path),
    }


def fire(env: dict, name: str, payload: dict | None, planner: HandPlanner, *extra: str) -> int:
    path = Path(env["_tmp"]) / f"event-{name}.json"
    path.write_text(json.dumps(payload or {}))
    e = {**env, "GITHUB_EVENT_NAME": name, "GITHUB_EVENT_PATH": str(path)}
    args = build_parser().parse_args(["event", "--repo", str(planner.work), "--snapshot", env["_snapshot"],
                                      "--api-write-pause", "0", *extra])
    return event.run(args, e, pipeline=planner)


def outputs(env: dict) -> dict[str, str]:
    out, lines = {}, Path(env["GITHUB_OUTPUT"]).read_text().splitlines()
    i = 0
    while i < len(lines):
        name, delim = lines[i].split("<<")
        j = lines.index(delim, i + 1)
        out[name] = "\n".join(lines[i + 1: j])
        i = j + 1
    return out


def comment_payload(github, number: int, body: str, login: str = "Codertocat", *, example: int = 0,
                    on_pr: bool = True, user_type: str = "User", association: str = "OWNER") -> dict:
    payload = copy.deepcopy(webhook_examples()["issue_comment"][example])
    c = github.add_comment(number, body, login)
    payload["repository"]["full_name"] = f"{github.owner}/{github.name}"
    payload["repository"]["name"], payload["repository"]["owner"]["login"] = github.name, github.owner
    payload["issue"]["number"] = number
    payload["comment"].update(id=c.id, body=body, author_association=association,
                              created_at=c.created_at, updated_at=c.created_at)
    payload["comment"]["user"].update(login=login, type=user_type)
    if on_pr:
        payload["issue"]["pull_request"] = {
            "url": f"{github.base_url}/repos/{github.owner}/{github.name}/pulls/{number}",
            "html_url": f"https://github.com/{github.owner}/{github.name}/pull/{number}",
            "diff_url": "", "patch_url": "", "merged_at": None}
    return payload


def dispatch_payload(github) -> dict:
    payload = copy.deepcopy(webhook_examples()["workflow_dispatch"][0])
    payload["repository"]["full_name"] = f"{github.owner}/{github.name}"
    return payload


@pytest.fixture
def opened(github, origin, env):
    """The first scheduled run has opened PR #1 with both changes."""
    planner = HandPlanner(origin[1], WANTED)
    schedule = {"schedule": "17 5 * * 1", "repository": {"full_name": f"{github.owner}/{github.name}"},
                "workflow": ".github/workflows/rightsizer.yml"}
    assert fire(env, "schedule", schedule, planner) == 0
    assert list(github.pulls) == [1]
    github.reset_log()
    return planner


def reactions(github, comment_id: int) -> list[str]:
    return [r for cid, r, _ in github.reactions if cid == comment_id]


def test_schedule_opens_pr_and_sets_outputs(github, origin, env, opened):
    out = outputs(env)
    assert out["pr-number"] == "1" and out["pr-url"] == "https://github.com/octo-org/octo-repo/pull/1"
    assert out["changes"] == "2"
    report = Path(out["report-path"])
    assert report.parent == Path(env["RUNNER_TEMP"]) / "rightsizer" and json.loads(report.read_text())["nodes"]
    assert "apps/media/sonarr.yaml" in Path(env["GITHUB_STEP_SUMMARY"]).read_text()
    # The base of the commit is the checkout's HEAD, and the run link is in the body.
    assert prstate.parse(github.pulls[1].body).base_sha == git(origin[1], "rev-parse", "HEAD")
    assert "actions/runs/7" in github.pulls[1].body


def test_workflow_dispatch_rerun_is_silent(github, origin, env, opened):
    assert fire(env, "workflow_dispatch", dispatch_payload(github), opened) == 0
    assert github.writes() == [] and len(github.pulls) == 1


def test_workflow_dispatch_report_mode_leaves_the_pr_alone(github, origin, env, opened):
    opened.wanted.clear()  # even with nothing to propose, a report-only look closes nothing
    assert fire(env, "workflow_dispatch", dispatch_payload(github), opened, "--mode", "report") == 0
    assert github.writes() == [] and github.pulls[1].state == "open"
    assert opened.calls[-1][1]["mode_override"] == "report"


def test_workflow_dispatch_dry_run_writes_nothing(github, origin, env):
    planner = HandPlanner(origin[1], WANTED)
    assert fire(env, "workflow_dispatch", dispatch_payload(github), planner, "--dry-run") == 0
    assert github.writes() == [] and not github.pulls
    assert outputs(env)["changes"] == "2" and outputs(env)["pr-number"] == ""


def test_comment_on_plain_issue_is_ignored_without_api_calls(github, env, opened):
    payload = copy.deepcopy(webhook_examples()["issue_comment"][0])  # untouched real payload
    assert "pull_request" not in payload["issue"]
    payload["comment"]["body"] = "/rightsize recompute"
    assert fire(env, "issue_comment", payload, opened) == 0
    assert github.log == []


def test_edited_and_bot_comments_are_ignored(github, env, opened):
    edited = comment_payload(github, 1, "/rightsize recompute", example=7)
    assert edited["action"] == "edited"
    bot = comment_payload(github, 1, "/rightsize recompute", login="renovate[bot]", user_type="Bot")
    chatter = comment_payload(github, 1, "looks good, merging tomorrow")
    for payload in (edited, bot, chatter):
        assert fire(env, "issue_comment", payload, opened) == 0
    assert github.log == [] and not github.reactions
    assert len(opened.calls) == 1  # only the opening run planned


def test_user_without_write_permission_is_refused(github, env, opened):
    # author_association says CONTRIBUTOR; the permission API says read: refused.
    payload = comment_payload(github, 1, "/rightsize skip media/sonarr", login="reader", association="CONTRIBUTOR")
    body_before = github.pulls[1].body
    assert fire(env, "issue_comment", payload, opened) == 0
    cid = payload["comment"]["id"]
    assert reactions(github, cid) == ["eyes", "confused"]
    reply = [c for c in github.comments.values() if c.user == BOT][-1].body
    assert reply.startswith("@reader ") and "write access" in reply
    # Only the bookkeeping moved (this comment is handled); no skip was recorded.
    assert prstate.strip(github.pulls[1].body) == prstate.strip(body_before)
    after = prstate.parse(github.pulls[1].body)
    assert after.skips == () and after.last_command == payload["comment"]["id"]
    asked = [e.path for e in github.log if e.path.endswith("/permission")]
    assert asked == ["/repos/octo-org/octo-repo/collaborators/reader/permission"]


def test_stranger_not_a_collaborator_is_refused(github, env, opened):
    payload = comment_payload(github, 1, "/rightsize recompute", login="stranger", association="NONE")
    assert fire(env, "issue_comment", payload, opened) == 0
    assert reactions(github, payload["comment"]["id"]) == ["eyes", "confused"]
    assert len(opened.calls) == 1


def test_private_org_member_with_write_is_accepted(github, env, opened):
    # Members of private orgs show as NONE: the association alone must not refuse them.
    github.permissions["hidden-member"] = "maintain"
    payload = comment_payload(github, 1, "/rightsize help", login="hidden-member", association="NONE")
    assert fire(env, "issue_comment", payload, opened) == 0
    assert reactions(github, payload["comment"]["id"]) == ["eyes", "+1"]


def test_help_replies_with_the_command_list(github, env, opened):
    payload = comment_payload(github, 1, "/rightsize help\nthanks!")
    assert fire(env, "issue_comment", payload, opened) == 0
    assert reactions(github, payload["comment"]["id"]) == ["eyes", "+1"]
    reply = [c for c in github.comments.values() if c.user == BOT][-1].body
    assert "/rightsize pin <ns/workload/container>" in reply and reply.startswith("@Codertocat ")


@pytest.mark.parametrize("body, hint", [
    ("/rightsize pin media/sonarr/app cpu=lots", "not a Kubernetes quantity for cpu"),
    ("/rightsize skip", "needs a target"),
    ("/rightsize frobnicate", "is not a command"),
    ("/rightsize pin media/sonarr cpu=1", "namespace/workload/container"),
    ("/rightsize explain ../../etc/passwd", "is not `namespace/workload`"),
])
def test_malformed_commands_get_a_helpful_reply(github, env, opened, body, hint):
    payload = comment_payload(github, 1, body)
    assert fire(env, "issue_comment", payload, opened) == 0
    assert reactions(github, payload["comment"]["id"]) == ["eyes", "confused"]
    reply = [c for c in github.comments.values() if c.user == BOT][-1].body
    assert hint in reply and "/rightsize help" in reply


def test_skip_then_recompute_drops_the_workload(github, origin, env, opened, tmp_path):
    bare, work = origin
    skip = comment_payload(github, 1, "/rightsize skip media/sonarr")
    assert fire(env, "issue_comment", skip, opened) == 0
    assert reactions(github, skip["comment"]["id"]) == ["eyes", "+1"]
    assert prstate.parse(github.pulls[1].body).skips == ("media/sonarr",)
    assert len(opened.calls) == 1  # recorded, not yet applied

    recompute = comment_payload(github, 1, "/rightsize recompute", login="octocat", association="MEMBER")
    assert fire(env, "issue_comment", recompute, opened) == 0
    assert reactions(github, recompute["comment"]["id"]) == ["eyes", "+1"]
    assert opened.calls[-1][0].skips == ("media/sonarr",)  # the pipeline was told

    clone = tmp_path / "after-skip"
    import subprocess

    subprocess.run(["git", "clone", "-q", "-b", "rightsizer/resources", str(bare), str(clone)], check=True)
    changed = git(clone, "diff", "--name-only", "HEAD^", "HEAD").splitlines()
    assert changed == [RADARR]  # sonarr is gone from the PR's commit
    assert git(clone, "rev-list", "--count", f"{git(work, 'rev-parse', 'HEAD')}..HEAD") == "1"
    body = github.pulls[1].body
    assert "sonarr" not in prstate.strip(body).split("---")[0] and "radarr" in body
    rationale = [c.body for c in github.comments.values() if "rightsizer-rationale" in c.body]
    assert len(rationale) == 1
    assert "@octocat commented `/rightsize recompute`" in rationale[0]
    assert "`media/sonarr`" in rationale[0] and "~~media/sonarr/app" in rationale[0]
    assert len(github.pulls) == 1


def test_pin_is_recorded_with_exact_quantities(github, env, opened):
    payload = comment_payload(github, 1, "/rightsize pin media/sonarr/app cpu=0.25 memory=1.5Gi")
    assert fire(env, "issue_comment", payload, opened) == 0
    [pin] = prstate.parse(github.pulls[1].body).pins
    # 0.25 cores = 250 millicores; 1.5Gi = 1.5 * 2^30 = 1610612736 bytes.
    assert (pin.ref, pin.cpu, pin.memory) == ("media/sonarr/app", 250, 1610612736)


def test_rebase_command_overwrites_foreign_commits(github, origin, env, opened, tmp_path):
    bare, work = origin
    clone = tmp_path / "human"
    import subprocess

    subprocess.run(["git", "clone", "-q", "-b", "rightsizer/resources", str(bare), str(clone)], check=True)
    (clone / "notes.txt").write_text("mine\n")
    git(clone, "add", "notes.txt")
    git(clone, "commit", "-qm", "human change")
    git(clone, "push", "-q", "origin", "rightsizer/resources")
    foreign = git(clone, "rev-parse", "HEAD")

    recompute = comment_payload(github, 1, "/rightsize recompute")
    assert fire(env, "issue_comment", recompute, opened) == 0
    assert github.ref_sha("rightsizer/resources") == foreign
    paused = [c for c in github.comments.values() if "rightsizer-paused" in c.body]
    assert len(paused) == 1

    rebase = comment_payload(github, 1, "/rightsize rebase")
    assert fire(env, "issue_comment", rebase, opened) == 0
    head = github.ref_sha("rightsizer/resources")
    assert head != foreign and github.git("rev-parse", f"{head}^") == git(work, "rev-parse", "HEAD")
    assert reactions(github, rebase["comment"]["id"]) == ["eyes", "+1"]


def test_explain_replies_with_the_rationale(github, env, opened):
    payload = comment_payload(github, 1, "/rightsize explain media/sonarr")
    assert fire(env, "issue_comment", payload, opened) == 0
    reply = [c for c in github.comments.values() if c.user == BOT][-1].body
    assert "### Why `media/sonarr`" in reply


def test_comment_on_someone_elses_pr_is_ignored(github, env, opened):
    github.pulls[1].user = "octocat"
    payload = comment_payload(github, 1, "/rightsize recompute")
    assert fire(env, "issue_comment", payload, opened) == 0
    assert not github.reactions and github.writes() == []


def test_empty_plan_closes_the_pr(github, origin, env, opened):
    opened.wanted.clear()
    assert fire(env, "schedule", {"schedule": "17 5 * * 1"}, opened) == 0
    assert github.pulls[1].state == "closed"
    assert outputs(env)["changes"] == "0"


def test_a_command_whose_run_github_dropped_is_handled_by_the_next_one(github, origin, env, opened, tmp_path):
    # GitHub keeps one waiting run per concurrency group: the run for this skip was replaced
    # by the run for the recompute below, so only the recompute's event arrives.
    dropped = github.add_comment(1, "/rightsize skip media/sonarr", "Codertocat")
    recompute = comment_payload(github, 1, "/rightsize recompute")
    assert fire(env, "issue_comment", recompute, opened) == 0
    assert reactions(github, dropped.id) == ["eyes", "+1"]
    assert reactions(github, recompute["comment"]["id"]) == ["eyes", "+1"]
    # In order: the skip was recorded before the recompute ran, so it took effect.
    assert opened.calls[-1][0].skips == ("media/sonarr",)
    assert github.ref_sha("rightsizer/resources") is not None
    head = github.ref_sha("rightsizer/resources")
    assert github.git("diff", "--name-only", f"{head}^", head).splitlines() == [RADARR]
    assert prstate.parse(github.pulls[1].body).last_command == recompute["comment"]["id"]


def test_redelivered_event_is_not_handled_twice(github, env, opened):
    payload = comment_payload(github, 1, "/rightsize help")
    assert fire(env, "issue_comment", payload, opened) == 0
    replies = len(github.comments)
    github.reset_log()
    assert fire(env, "issue_comment", payload, opened) == 0
    assert github.writes() == [] and len(github.comments) == replies


def test_old_or_edited_commands_are_not_replayed(github, env, opened):
    old = github.add_comment(1, "/rightsize rebase", "Codertocat")
    old.created_at = old.updated_at = "2026-01-01T00:00:00Z"  # months ago
    edited = github.add_comment(1, "/rightsize skip media/radarr", "Codertocat")
    edited.updated_at = "2099-01-01T00:00:00Z"  # changed after it was written
    payload = comment_payload(github, 1, "/rightsize help")
    assert fire(env, "issue_comment", payload, opened) == 0
    assert reactions(github, old.id) == [] and reactions(github, edited.id) == []
    assert prstate.parse(github.pulls[1].body).skips == ()
