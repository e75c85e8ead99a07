"""Issue 17 against the emulator: comment commands that once broke every later run, GitHub state
that heals after a failure between two writes, POSTs confirmed instead of repeated, and a
repository symlink that must never reach a commit."""

from __future__ import annotations

import base64
import os
import subprocess
from dataclasses import replace

import pytest

from bot.github import publish as publish_module
from bot.github import state as prstate
from bot.github.publish import PublishError, Target, write_commit
from bot.policy import Pin
from .emulator import BOT
from .support import TOKEN, git
from .test_end_to_end import branch_files, comment, fire, flux, snapshot  # noqa: F401 - fixtures
from .test_events import WANTED, comment_payload, env, fire as fire_event, opened  # noqa: F401 - fixtures

SCHEDULE = {"schedule": "17 5 * * 1"}


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch):
    """The real retry logic with short pauses: the production backoff (1 s doubling, 6 tries)
    would spend a minute per injected run of 500s."""
    from bot.github import app as app_module
    from bot.github.client import connect

    monkeypatch.setattr(publish_module, "RETRY_PAUSE", 0.01)
    monkeypatch.setattr(app_module, "connect", lambda token, settings: connect(token, replace(settings, backoff=0.01)))


def bot_comments(github, text: str) -> list[str]:
    return [c.body for c in github.comments.values() if c.user == BOT and text in c.body]


# --- comment commands ------------------------------------------------------------------

@pytest.mark.parametrize("value", ["1e999999", "1e400", "99999999999999999999999999Ei"])
def test_out_of_range_pin_is_answered_stored_nowhere_and_never_replayed(github, env, opened, value):
    bad = comment_payload(github, 1, f"/rightsize pin media/sonarr/app cpu={value}")
    assert fire_event(env, "issue_comment", bad, opened) == 0
    [reply] = bot_comments(github, value[:20])
    assert "is out of range for cpu (at most 1000000 cores)" in reply
    st = prstate.parse(github.pulls[1].body)
    assert st.pins == () and st.last_command == bad["comment"]["id"]
    # The next command is handled alone: the bad one is not replayed (no second reply to it).
    later = comment_payload(github, 1, "/rightsize help")
    assert fire_event(env, "issue_comment", later, opened) == 0
    assert len(bot_comments(github, value[:20])) == 1
    assert prstate.parse(github.pulls[1].body).last_command == later["comment"]["id"]


def test_a_command_whose_handling_crashed_is_recorded_as_handled(github, env, opened):
    first = comment_payload(github, 1, "/rightsize skip media/radarr")
    # Every attempt to post the reply fails: the run ends with exit 1 …
    github.inject("POST", r"/issues/1/comments$", 500, times=20)
    assert fire_event(env, "issue_comment", first, opened) == 1
    github.faults.clear()
    # … but the command is marked handled, so the next command does not replay it.
    assert prstate.parse(github.pulls[1].body).last_command == first["comment"]["id"]
    later = comment_payload(github, 1, "/rightsize help")
    assert fire_event(env, "issue_comment", later, opened) == 0
    assert bot_comments(github, f"rightsizer-reply: {first['comment']['id']}") == []
    assert len(bot_comments(github, f"rightsizer-reply: {later['comment']['id']}")) == 1


def test_invalid_stored_pin_is_dropped_with_one_warning_and_the_run_goes_on(github, env, opened, capsys):
    st = prstate.parse(github.pulls[1].body)
    bad = prstate.PrState(**{**st.__dict__, "pins": (Pin("media/sonarr/app", cpu=10**400),
                                                    Pin("media/radarr/app", cpu=250))})
    github.pulls[1].body = prstate.strip(github.pulls[1].body) + "\n\n" + prstate.render(bad) + "\n"
    capsys.readouterr()
    assert fire_event(env, "schedule", SCHEDULE, opened) == 0
    err = capsys.readouterr().err
    warnings = [l for l in err.splitlines() if "invalid entry in the PR's stored state" in l]
    assert len(warnings) == 1 and "media/sonarr/app" in warnings[0]
    overrides, _ = opened.calls[-1]
    assert [p.ref for p in overrides.pins] == ["media/radarr/app"]  # the valid pin still applies


def test_lost_comment_response_gives_one_comment(github, env, opened):
    # GitHub stores the comment but the response is lost (502): the bot looks before posting again.
    github.inject("POST", r"/issues/1/comments$", 502, after=True)
    cmd = comment_payload(github, 1, "/rightsize help")
    assert fire_event(env, "issue_comment", cmd, opened) == 0
    assert len(bot_comments(github, f"rightsizer-reply: {cmd['comment']['id']}")) == 1
    posts = [e.status for e in github.log if e.method == "POST" and e.path.endswith("/issues/1/comments")]
    # The emulator logs the POST it carried out (201) and the lost answer (502): one POST, no blind retry.
    assert posts == [201, 502]


# --- state that heals ------------------------------------------------------------------

def test_failed_pr_update_does_not_pause_the_next_run(github, env, opened, origin):
    bare, _ = origin
    head = github.ref_sha("rightsizer/resources")
    opened.wanted["apps/media/sonarr.yaml"] = ("175m", "300Mi")
    github.inject("PATCH", r"/pulls/1$", 500, times=20)
    assert fire_event(env, "schedule", SCHEDULE, opened) == 1
    github.faults.clear()
    assert github.ref_sha("rightsizer/resources") == head  # the state comes first: the branch did not move
    assert fire_event(env, "schedule", SCHEDULE, opened) == 0
    st = prstate.parse(github.pulls[1].body)
    assert not st.paused and github.ref_sha("rightsizer/resources") == st.branch_sha != head
    assert bot_comments(github, "Someone else pushed") == []


def test_failed_branch_move_after_the_state_is_recognised_as_our_own(github, env, opened):
    head = github.ref_sha("rightsizer/resources")
    opened.wanted["apps/media/sonarr.yaml"] = ("175m", "300Mi")
    github.inject("PATCH", r"/git/refs/heads/rightsizer/resources$", 500, times=20)
    assert fire_event(env, "schedule", SCHEDULE, opened) == 1
    github.faults.clear()
    st = prstate.parse(github.pulls[1].body)
    assert github.ref_sha("rightsizer/resources") == head == st.previous_sha != st.branch_sha
    # Before the fix: "someone else pushed", paused until /rightsize rebase.
    assert fire_event(env, "schedule", SCHEDULE, opened) == 0
    st = prstate.parse(github.pulls[1].body)
    assert not st.paused and github.ref_sha("rightsizer/resources") == st.branch_sha
    assert bot_comments(github, "Someone else pushed") == []


def test_failed_label_post_in_the_creating_run_is_retried_next_run(github, env, origin):
    from .drafts import HandPlanner

    planner = HandPlanner(origin[1], WANTED)
    github.inject("POST", r"/issues/1/labels$", 500, times=20)
    assert fire_event(env, "schedule", SCHEDULE, planner) == 1
    github.faults.clear()
    assert github.pulls[1].labels == [] and prstate.parse(github.pulls[1].body).labels_added == ()
    assert fire_event(env, "schedule", SCHEDULE, planner) == 0
    assert github.pulls[1].labels == ["rightsizer", "resources"]


def test_lost_label_response_is_confirmed_not_failed(github, env, origin):
    from .drafts import HandPlanner

    planner = HandPlanner(origin[1], WANTED)
    github.inject("POST", r"/issues/1/labels$", 502, after=True, times=20)
    assert fire_event(env, "schedule", SCHEDULE, planner) == 0
    assert github.pulls[1].labels == ["rightsizer", "resources"]
    assert prstate.parse(github.pulls[1].body).labels_added == ("rightsizer", "resources")


# --- paths that reach the Git Data API -------------------------------------------------

@pytest.mark.parametrize("path", ["../outside/values.yaml", "/etc/passwd", "apps/../../x.yaml", ".git/config", "a//b.yaml"])
def test_git_data_api_never_receives_a_path_outside_the_repo(repo, github, origin, path):
    base = github.ref_sha("main")
    github.reset_log()
    with pytest.raises(PublishError, match="refusing to commit"):
        write_commit(repo, base, {path: b"x: 1\n"}, "msg")
    assert github.writes() == []


def test_symlinked_file_content_is_never_committed(monkeypatch, flux):  # noqa: F811
    emu, bare, work, tmp = flux
    secret = tmp / "outside-secret.yaml"
    real = work / "apps" / "media" / "sonarr" / "helmrelease.yaml"
    secret.write_text(real.read_text().replace("requests tuned by hand", "OUTSIDE CONTENT"))
    real.unlink()
    real.symlink_to(secret)
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "sonarr is a symlink now")
    git(work, "push", "-q", "origin", "main")
    assert fire(monkeypatch, flux, "schedule", SCHEDULE) == 0
    clone, changed = branch_files(bare, tmp, "symlink")
    assert changed == ["apps/media/radarr/helmrelease.yaml"]
    assert os.path.islink(clone / "apps" / "media" / "sonarr" / "helmrelease.yaml")  # still the symlink in Git
    blobs = subprocess.run(["git", "-C", str(clone), "log", "-p", "-1"], capture_output=True, text=True).stdout
    assert "OUTSIDE CONTENT" not in blobs


# --- secrets in server-supplied text ---------------------------------------------------

def test_server_error_echoing_the_token_is_redacted(monkeypatch, github, origin, tmp_path, capsys):
    from bot.cli import main
    from .test_run_command import setenv, snapshot_file

    _, work = origin
    setenv(monkeypatch, github, tmp_path, token=TOKEN + "\n")  # trailing newline, as pasted secrets have
    basic = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    github.inject("GET", r"/repos/[^/]+/[^/]+$", 422, times=5,
                  message=f"Validation failed for Authorization: token {TOKEN} (Basic {basic}; raw {base64.b64encode(TOKEN.encode()).decode()})")
    code = main(["run", "--repo", str(work), "--snapshot", snapshot_file(tmp_path), "--api-write-pause", "0"])
    out = capsys.readouterr()
    text = out.out + out.err
    assert code == 1 and "GitHub API error 422" in text and "Traceback" not in text
    for leaked in (TOKEN, basic.rstrip("="), base64.b64encode(TOKEN.encode()).decode().rstrip("=")):
        assert leaked not in text, text
