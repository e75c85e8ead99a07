"""Publishing drafts through the real PyGithub client against the contract-checked emulator."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bot.github import state as prstate
from bot.github.client import ClientSettings, connect, explain_failure
from bot.github.publish import PublishError, Target, close_stale, publish, read_state
from bot.policy import Overrides
from .support import TOKEN, git
from .drafts import REPORT, resize
from .emulator import BOT


def target(repo, work: Path) -> Target:
    return Target(repo=repo, base="main", bot_login=BOT, base_sha=git(work, "rev-parse", "HEAD"),
                  run_url="https://github.com/octo-org/octo-repo/actions/runs/42")


def clone_branch(bare: Path, tmp: Path, branch: str) -> Path:
    dest = tmp / f"clone-{branch.replace('/', '-')}-{len(list(tmp.iterdir()))}"
    subprocess.run(["git", "clone", "-q", "-b", branch, str(bare), str(dest)], check=True)
    return dest


def test_first_run_opens_one_pr_with_one_signed_commit(repo, github, origin, tmp_path):
    bare, work = origin
    draft = resize(work, {"apps/media/sonarr.yaml": ("150m", "300Mi"), "apps/media/radarr.yaml": ("100m", "384Mi")})
    result = publish(target(repo, work), draft, REPORT, Overrides(skips=("media/plex",)))

    assert result.action == "created" and result.pr_number == 1
    assert [p.number for p in github.pulls.values()] == [1]
    pr = github.pulls[1]
    assert (pr.head, pr.base, pr.user, pr.state) == ("rightsizer/resources", "main", BOT, "open")
    assert pr.labels == ["rightsizer", "resources"]

    clone = clone_branch(bare, tmp_path, "rightsizer/resources")
    main_sha = git(work, "rev-parse", "HEAD")
    # Exactly one commit on top of main, authored by the bot and committed (signed) by GitHub.
    assert git(clone, "rev-list", "--count", f"{main_sha}..HEAD") == "1"
    assert git(clone, "rev-parse", "HEAD^") == main_sha
    assert git(clone, "log", "-1", "--format=%an|%cn|%ce") == f"{BOT}|GitHub|noreply@github.com"
    assert github.verified[git(clone, "rev-parse", "HEAD")] is True
    assert sorted(git(clone, "diff", "--name-only", "HEAD^", "HEAD").splitlines()) == sorted(draft.files)
    for rel, content in draft.files.items():
        assert (clone / rel).read_bytes() == content
    # Only the two request lines changed in sonarr.yaml (2 deletions, 2 insertions).
    assert git(clone, "diff", "--numstat", "HEAD^", "HEAD", "--", "apps/media/sonarr.yaml").split()[:2] == ["2", "2"]

    st = prstate.parse(pr.body)
    assert st.fingerprint == draft.fingerprint and st.branch_sha == git(clone, "rev-parse", "HEAD")
    assert st.skips == ("media/plex",) and st.labels_added == ("rightsizer", "resources")
    # CPU bars: m720q 2000m of 6000m → round(40 × 1/3) = 13 cells, budget 3600m at cell 24; pi4 500m of 4000m → 5 cells,
    # budget 2400m at cell 24.
    assert "### Requests per node, before and after" in pr.body
    assert "m720q  before " + "█" * 13 + "·" * 11 + "│" + "·" * 15 + "  33% 2000m" in pr.body
    assert "pi4    before " + "█" * 5 + "·" * 19 + "│" + "·" * 15 + "  12% 500m" in pr.body
    assert not github.comments  # the description explains the first plan; no extra comment


def test_identical_rerun_writes_nothing(repo, github, origin):
    _, work = origin
    changes = {"apps/media/sonarr.yaml": ("150m", "300Mi")}
    publish(target(repo, work), resize(work, changes), REPORT, Overrides())
    github.reset_log()
    # A new run has a new run URL; that alone must not rewrite the description.
    t = target(repo, work)
    t.run_url = "https://github.com/octo-org/octo-repo/actions/runs/43"
    result = publish(t, resize(work, changes), REPORT, Overrides())
    assert result.action == "unchanged"
    assert github.writes() == []
    assert len(github.pulls) == 1 and not github.comments


def test_changed_plan_updates_same_pr_with_one_rationale_comment(repo, github, origin, tmp_path):
    bare, work = origin
    first = resize(work, {"apps/media/sonarr.yaml": ("150m", "300Mi")})
    publish(target(repo, work), first, REPORT, Overrides())
    second = resize(work, {"apps/media/sonarr.yaml": ("150m", "300Mi"), "apps/media/radarr.yaml": ("100m", "384Mi")})
    result = publish(target(repo, work), second, REPORT, Overrides(), reason="new measurements")
    assert result.action == "updated" and result.pr_number == 1
    assert len(github.pulls) == 1
    comments = list(github.comments.values())
    assert len(comments) == 1
    text = comments[0].body
    assert "**Why:** new measurements." in text
    # The diff of summary lines: radarr is new, sonarr (unchanged) is not repeated.
    assert "- media/radarr/app: cpu 200m → 100m, memory 512Mi → 384Mi" in text
    assert "sonarr" not in text
    clone = clone_branch(bare, tmp_path, "rightsizer/resources")
    assert git(clone, "rev-list", "--count", f"{git(work, 'rev-parse', 'HEAD')}..HEAD") == "1"
    assert (clone / "apps/media/radarr.yaml").read_bytes() == second.files["apps/media/radarr.yaml"]
    # And a rerun of the changed plan is silent again.
    github.reset_log()
    publish(target(repo, work), second, REPORT, Overrides())
    assert github.writes() == [] and len(github.comments) == 1


def test_foreign_commit_stops_overwrites_until_rebase(repo, github, origin, tmp_path):
    bare, work = origin
    draft = resize(work, {"apps/media/sonarr.yaml": ("150m", "300Mi")})
    publish(target(repo, work), draft, REPORT, Overrides())
    clone = clone_branch(bare, tmp_path, "rightsizer/resources")
    (clone / "apps/media/sonarr.yaml").write_text("# tuned by hand\n" + (clone / "apps/media/sonarr.yaml").read_text())
    git(clone, "commit", "-qam", "hand tune")
    git(clone, "push", "-q", "origin", "rightsizer/resources")
    foreign = git(clone, "rev-parse", "HEAD")

    changed = resize(work, {"apps/media/sonarr.yaml": ("175m", "320Mi")})
    result = publish(target(repo, work), changed, REPORT, Overrides())
    assert result.action == "paused"
    assert github.ref_sha("rightsizer/resources") == foreign  # not overwritten
    assert len(github.comments) == 1 and "/rightsize rebase" in next(iter(github.comments.values())).body
    assert prstate.parse(github.pulls[1].body).paused is True

    # Further runs say nothing more and write nothing.
    github.reset_log()
    assert publish(target(repo, work), changed, REPORT, Overrides()).action == "paused"
    assert github.writes() == [] and len(github.comments) == 1

    # /rightsize rebase = force: the branch is rebuilt from main with our single commit.
    result = publish(target(repo, work), changed, REPORT, Overrides(), force=True, reason="rebase")
    assert result.action == "updated"
    clone2 = clone_branch(bare, tmp_path, "rightsizer/resources")
    assert git(clone2, "rev-parse", "HEAD^") == git(work, "rev-parse", "HEAD")
    assert b"# tuned by hand" not in (clone2 / "apps/media/sonarr.yaml").read_bytes()
    assert prstate.parse(github.pulls[1].body).paused is False


def test_label_removed_by_a_human_is_not_re_added(repo, github, origin):
    _, work = origin
    publish(target(repo, work), resize(work, {"apps/media/sonarr.yaml": ("150m", "300Mi")}), REPORT, Overrides())
    github.pulls[1].labels.remove("resources")  # a human removed it in the UI
    publish(target(repo, work), resize(work, {"apps/media/sonarr.yaml": ("175m", "300Mi")}), REPORT, Overrides())
    assert github.pulls[1].labels == ["rightsizer"]
    assert not [e for e in github.log if e.path.endswith("/labels") and e.method == "POST" and e.body
                and "resources" in e.body.get("labels", [])][1:]


def test_empty_plan_closes_stale_pr_with_a_comment(repo, github, origin):
    _, work = origin
    publish(target(repo, work), resize(work, {"apps/media/sonarr.yaml": ("150m", "300Mi")}), REPORT, Overrides(skips=("a/b",)))
    result = close_stale(target(repo, work), "resources", "usage is within the deadband")
    assert result.action == "closed"
    assert github.pulls[1].state == "closed"
    assert github.ref_sha("rightsizer/resources") is None
    [comment] = github.comments.values()
    assert "closing" in comment.body and "deadband" in comment.body
    # Nothing open any more: closing again is a no-op, and the skips survive for the next PR.
    github.reset_log()
    assert close_stale(target(repo, work), "resources", "x").action == "none"
    assert github.writes() == []
    pr, st = read_state(target(repo, work), "resources")
    assert pr is None and st.skips == ("a/b",)


def test_no_duplicate_pr_when_one_already_exists_without_state(repo, github, origin):
    _, work = origin
    # A retried create that GitHub had already executed: the PR exists, our state is lost.
    publish(target(repo, work), resize(work, {"apps/media/sonarr.yaml": ("150m", "300Mi")}), REPORT, Overrides())
    github.pulls[1].body = "lost"
    publish(target(repo, work), resize(work, {"apps/media/sonarr.yaml": ("150m", "300Mi")}), REPORT, Overrides())
    assert len(github.pulls) == 1 and prstate.parse(github.pulls[1].body).fingerprint


def test_lost_create_response_does_not_duplicate_the_pr(repo, github, origin):
    _, work = origin
    # GitHub creates the PR but the response is lost (502); the retried POST gets 422
    # "already exists", and the bot adopts its own PR instead of failing or duplicating.
    github.inject("POST", r"/pulls$", 502, after=True)
    result = publish(target(repo, work), resize(work, {"apps/media/sonarr.yaml": ("150m", "300Mi")}), REPORT, Overrides())
    assert result.pr_number == 1 and len(github.pulls) == 1
    statuses = [e.status for e in github.log if e.method == "POST" and e.path.endswith("/pulls")]
    assert statuses == [201, 502, 422]
    assert github.pulls[1].labels == ["rightsizer", "resources"]


def test_a_humans_pr_from_the_branch_is_not_taken_over(repo, github, origin):
    _, work = origin
    publish(target(repo, work), resize(work, {"apps/media/sonarr.yaml": ("150m", "300Mi")}), REPORT, Overrides())
    github.pulls[1].user = "octocat"  # say a person had opened the PR from our branch
    body, head = github.pulls[1].body, github.ref_sha("rightsizer/resources")
    with pytest.raises(PublishError) as info:
        publish(target(repo, work), resize(work, {"apps/media/sonarr.yaml": ("175m", "300Mi")}), REPORT, Overrides())
    assert "is by octocat" in str(info.value) and explain_failure(info.value) == str(info.value)
    assert len(github.pulls) == 1 and github.pulls[1].body == body
    assert github.ref_sha("rightsizer/resources") == head  # their branch is untouched


def test_transient_faults_are_retried(repo, github, origin):
    _, work = origin
    github.inject("POST", r"/git/blobs$", 502, times=2)
    github.inject("POST", r"/git/refs$", 503, headers={"Retry-After": "0"})
    github.inject("POST", r"/pulls$", 429, headers={"Retry-After": "1"})
    github.inject("GET", r"/pulls$", 403, headers={"Retry-After": "0"},
                  message="You have exceeded a secondary rate limit. Please wait a few minutes before you try again.")
    result = publish(target(repo, work), resize(work, {"apps/media/sonarr.yaml": ("150m", "300Mi")}), REPORT, Overrides())
    assert result.action == "created" and len(github.pulls) == 1
    injected = [(e.method, e.status) for e in github.log if e.injected]
    assert sorted(injected) == sorted([("POST", 502), ("POST", 502), ("POST", 503), ("POST", 429), ("GET", 403)])
    # Each retried POST landed once: one blob request succeeded, one ref, one PR.
    ok = [(e.method, e.path.rsplit("/", 1)[-1]) for e in github.log if not e.injected and e.method == "POST"]
    assert ok.count(("POST", "blobs")) == 1 and ok.count(("POST", "refs")) == 1 and ok.count(("POST", "pulls")) == 1


def test_rate_limit_budget_exhausted_stops_cleanly(github, origin):
    _, work = origin
    # Primary limit with a reset an hour away: waiting exceeds max_wait, so the client gives up.
    import time

    gh = connect(TOKEN, ClientSettings(base_url=github.base_url, retries=3, backoff=0.01, write_pause=0, max_wait=5))
    repo = gh.get_repo("octo-org/octo-repo")
    github.inject("GET", r"/pulls$", 403, times=10, headers={
        "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(time.time()) + 3600)},
        message="API rate limit exceeded for installation ID 1.")
    with pytest.raises(Exception) as info:
        publish(target(repo, work), resize(work, {"apps/media/sonarr.yaml": ("150m", "300Mi")}), REPORT, Overrides())
    message = explain_failure(info.value)
    assert message and "rate limit" in message and "nothing more was written" in message
    assert github.writes() == [] or all(e.injected for e in github.writes())


def test_persistent_server_errors_stop_cleanly(github, origin):
    _, work = origin
    gh = connect(TOKEN, ClientSettings(base_url=github.base_url, retries=2, backoff=0.01, write_pause=0, max_wait=5))
    repo = gh.get_repo("octo-org/octo-repo")
    github.inject("POST", r"/git/blobs$", 500, times=10)
    with pytest.raises(Exception) as info:
        publish(target(repo, work), resize(work, {"apps/media/sonarr.yaml": ("150m", "300Mi")}), REPORT, Overrides())
    assert "kept failing after retries" in (explain_failure(info.value) or "")
    assert not github.pulls and github.ref_sha("rightsizer/resources") is None


def test_long_body_is_trimmed_under_limit(repo, github, origin):
    _, work = origin
    draft = resize(work, {"apps/media/sonarr.yaml": ("150m", "300Mi")})
    draft.body += "<details><summary>all candidates</summary>\n\n" + "| x | y |\n" * 20000 + "</details>\n"
    publish(target(repo, work), draft, REPORT, Overrides())
    body = github.pulls[1].body
    assert len(body) <= 60_000
    assert "actions/runs/42" in body and "trimmed" in body
    assert prstate.parse(body).fingerprint == draft.fingerprint


def test_plan_closed_by_a_person_is_not_reopened_until_it_changes(repo, github, origin):
    _, work = origin
    draft = resize(work, {"apps/media/sonarr.yaml": ("150m", "300Mi")})
    publish(target(repo, work), draft, REPORT, Overrides(skips=("media/plex",)))
    github.pulls[1].state = "closed"  # a person clicked "Close" without merging
    github.reset_log()
    result = publish(target(repo, work), resize(work, {"apps/media/sonarr.yaml": ("150m", "300Mi")}), REPORT, Overrides())
    assert result.action == "declined" and github.writes() == [] and len(github.pulls) == 1
    # A different plan is worth a new PR; the closed PR's skips carry over.
    changed = resize(work, {"apps/media/sonarr.yaml": ("175m", "300Mi")})
    pr, st = read_state(target(repo, work), "resources")
    assert pr is None and st.skips == ("media/plex",) and st.declined == draft.fingerprint
    result = publish(target(repo, work), changed, REPORT, Overrides(skips=st.skips))
    assert result.action == "created" and result.pr_number == 2
    assert prstate.parse(github.pulls[2].body).skips == ("media/plex",)


def test_plan_closed_by_the_bot_is_reopened_when_it_returns(repo, github, origin):
    _, work = origin
    draft = resize(work, {"apps/media/sonarr.yaml": ("150m", "300Mi")})
    publish(target(repo, work), draft, REPORT, Overrides())
    close_stale(target(repo, work), "resources", "nothing to do")
    assert prstate.parse(github.pulls[1].body).closed_by_bot is True
    result = publish(target(repo, work), resize(work, {"apps/media/sonarr.yaml": ("150m", "300Mi")}), REPORT, Overrides())
    assert result.action == "created" and result.pr_number == 2


def test_comment_markers_are_found_on_later_pages(repo, github, origin):
    _, work = origin
    publish(target(repo, work), resize(work, {"apps/media/sonarr.yaml": ("150m", "300Mi")}), REPORT, Overrides())
    for i in range(65):  # the rationale comment will be the 66th: page 3 at 30 per page
        github.add_comment(1, f"chatter {i}", "octocat")
    second = resize(work, {"apps/media/sonarr.yaml": ("175m", "300Mi")})
    publish(target(repo, work), second, REPORT, Overrides())
    # The same plan again, but with a lost state (so the bot would comment again if it could not
    # see its earlier comment): it pages through all 66 comments and posts nothing.
    github.pulls[1].body = github.pulls[1].body.replace(second.fingerprint, "0" * 16)
    github.reset_log()
    publish(target(repo, work), second, REPORT, Overrides())
    pages = [e.query.get("page", ["1"])[0] for e in github.log if e.path.endswith("/issues/1/comments") and e.method == "GET"]
    assert pages == ["1", "2", "3"]
    assert not [e for e in github.log if e.method == "POST" and e.path.endswith("/comments")]
    assert len([c for c in github.comments.values() if "rightsizer-rationale" in c.body]) == 1


def test_ref_update_falls_back_to_create_and_back(repo, github, origin):
    _, work = origin
    publish(target(repo, work), resize(work, {"apps/media/sonarr.yaml": ("150m", "300Mi")}), REPORT, Overrides())
    # The forced update answers 422 (as for a missing ref): create; that says "already exists"
    # (it was there after all): update again, which now succeeds.
    github.inject("PATCH", r"/git/refs/heads/rightsizer/resources$", 422, message="Reference does not exist")
    github.reset_log()
    publish(target(repo, work), resize(work, {"apps/media/sonarr.yaml": ("175m", "300Mi")}), REPORT, Overrides())
    ref_calls = [(e.method, e.status) for e in github.log if "/git/refs" in e.path]
    assert ref_calls == [("PATCH", 422), ("POST", 422), ("PATCH", 200)]
    head = github.ref_sha("rightsizer/resources")
    assert b"cpu: 175m" in github.git("show", f"{head}:apps/media/sonarr.yaml").encode()
