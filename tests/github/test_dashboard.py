"""The dashboard issue against the emulator, with the real engine, GitOps adapter and PyGithub.

Scenario: a cap of one change per PR leaves one of two downsizes waiting. The first run opens
the PR and the one dashboard issue; identical runs neither duplicate nor edit it. A tick by a
user without write access at the time of the run (GitHub lets only writers edit someone else's
issue, so: one whose access was removed after the tick), or by another GitHub App with the
issues permission, changes nothing and is listed; the same tick by a writer puts the waiting
change into the next run's PR. A writer's "skip" plus "recompute now" acts at once through the
`issues: edited` event.
"""

from __future__ import annotations

import copy
import json
from datetime import datetime, timezone

import requests

from bot.cli import main
from bot.github import state as prstate
from bot.report import dashboard_markdown as dm

from .emulator import BOT
from .openapi import webhook_examples
from .support import TOKEN
from .test_end_to_end import CHART_POLICY, branch_files, flux, pytestmark, snapshot  # noqa: F401 - fixtures and skip marker

LABEL = "rightsizer-dashboard"
SONARR, RADARR = "media/sonarr/app", "media/radarr/app"
SONARR_FILE, RADARR_FILE = "apps/media/sonarr/helmrelease.yaml", "apps/media/radarr/helmrelease.yaml"


def run(monkeypatch, flux, name="schedule", payload=None, *extra: str) -> int:
    emu, _, work, tmp = flux
    snap = tmp / "snapshot.json"
    snap.write_text(json.dumps(snapshot(280_000_000)))
    event = tmp / "event.json"
    event.write_text(json.dumps(payload or {"schedule": "17 5 * * 1"}))
    for key, value in {
        "GITHUB_EVENT_NAME": name, "GITHUB_EVENT_PATH": str(event), "RIGHTSIZER_GITHUB_TOKEN": TOKEN,
        "GITHUB_REPOSITORY": f"{emu.owner}/{emu.name}", "GITHUB_API_URL": emu.base_url,
        "GITHUB_RUN_ID": "7", "RUNNER_TEMP": str(tmp / "rt"),
    }.items():
        monkeypatch.setenv(key, value)
    for key in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_ACTIONS"):
        monkeypatch.delenv(key, raising=False)
    return main(["event", "--repo", str(work), "--snapshot", str(snap), "--api-write-pause", "0",
                 "--max-changes", "1", *extra])


def dashboards(emu):
    return [i for i in emu.issues.values() if LABEL in i.labels]


def add_writer(emu, login: str = "octocat") -> str:
    """A user with write access and a token; returns the token."""
    emu.tokens[f"tok_{login}"] = (login, False)
    emu.permissions[login] = "write"
    return f"tok_{login}"


def tick(emu, number: int, box: str | list[str], token: str) -> tuple[str, str]:
    """Edit the issue as the token's user, the way GitHub's task-list clicks do: the boxes flipped."""
    before = after = emu.issues[number].body
    for one in [box] if isinstance(box, str) else box:
        line = f"- [ ] <!-- rightsizer:{one} -->"
        assert line in after, one
        after = after.replace(line, line.replace("[ ]", "[x]"), 1)
    r = requests.patch(f"{emu.base_url}/repos/{emu.owner}/{emu.name}/issues/{number}", json={"body": after},
                       headers={"Authorization": f"token {token}"}, timeout=10)
    assert r.status_code == 200, r.text
    return before, after


def edited(number: int, before: str, after: str, login: str) -> dict:
    """GitHub's real `issues: edited` webhook example, pointed at the dashboard edit."""
    payload = copy.deepcopy(next(e for e in webhook_examples()["issues"] if e["action"] == "edited"))
    edited_at = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")  # GitHub: the time of this edit
    payload["issue"].update(number=number, body=after, labels=[{"name": LABEL}], updated_at=edited_at)
    payload["changes"] = {"body": {"from": before}}
    payload["sender"].update(login=login, type="User")
    return payload


def pr_files(flux, tag: str) -> list[str]:
    emu, bare, _, tmp = flux
    return branch_files(bare, tmp, tag)[1]


def test_one_dashboard_steered_only_by_writers(monkeypatch, flux, capsys):
    emu = flux[0]
    intern = add_writer(emu, "intern")
    emu.tokens["ghs_helper_app"] = ("helper-app[bot]", True)  # another App, allowed to edit issues
    add_writer(emu)

    # 1. First run: the PR holds the larger saving (sonarr: 1 CPU → 180m); radarr waits over the cap.
    assert run(monkeypatch, flux) == 0
    [board] = dashboards(emu)
    assert board.user == BOT and dm.MARKER in board.body
    assert pr_files(flux, "1") == [SONARR_FILE]
    assert dm.boxes(board.body)[f"include={RADARR}"] is False
    assert "## Budget posture" in board.body and "**cluster**" in board.body and "`m720q`" in board.body
    assert f"#{min(emu.pulls)} `resources`: open" in board.body
    # The PR carries the cost of its change too. balanced: CPU p95 120m + 50% burst (peak 300m ≥ 1.5 × p95) = 180m;
    # memory p95 380e6 B = 362.4Mi × 1.15 = 416.8Mi → 417Mi (1Mi steps, a 79.6% cut inside the 90% step).
    # Requests 1000m → 180m and 2048Mi → 417Mi at the default prices:
    # 730 h × (−0.82 cores × 0.031611 − 1631/1024 GiB × 0.004237) = 730 × −0.0326696 = −23.8488 → −23.85 per month.
    assert "### Estimated cost" in emu.pulls[1].body and "−23.85 USD/month" in emu.pulls[1].body

    # 2. The same run again: still one issue, and not a single write.
    emu.reset_log()
    assert run(monkeypatch, flux) == 0
    assert len(dashboards(emu)) == 1 and emu.writes() == []

    # 3. The intern ticks "include radarr" and loses write access before the run: the permission
    # that counts is the one at the run. Nothing changes; the tick is reset and reported.
    tick(emu, board.number, f"include={RADARR}", intern)
    emu.permissions["intern"] = "read"
    capsys.readouterr()
    assert run(monkeypatch, flux) == 0
    out = capsys.readouterr().out
    assert pr_files(flux, "3") == [SONARR_FILE]
    assert "by intern did not count" in out and "intern has no write access (read)" in out
    assert dm.boxes(board.body)[f"include={RADARR}"] is False  # reset by the bot
    assert "@intern" in board.body and "## Ticks that did not count" in board.body

    # Another GitHub App ticks it: not a collaborator at all, so not counted either.
    tick(emu, board.number, f"include={RADARR}", "ghs_helper_app")
    assert run(monkeypatch, flux) == 0
    assert pr_files(flux, "3b") == [SONARR_FILE]
    assert "helper-app[bot] has no write access (none)" in board.body

    # 4. A writer ticks the same box: the next run's PR takes radarr beyond the cap.
    tick(emu, board.number, f"include={RADARR}", "tok_octocat")
    assert run(monkeypatch, flux) == 0
    assert pr_files(flux, "4") == [RADARR_FILE, SONARR_FILE]
    assert dm.parse_state(board.body).includes == (RADARR,)
    assert dm.boxes(board.body)[f"include={RADARR}"] is True
    assert len(dashboards(emu)) == 1 and list(emu.pulls) == [1]


def test_writer_skip_with_recompute_acts_at_once_through_the_issues_event(monkeypatch, flux):
    emu = flux[0]
    token = add_writer(emu)
    assert run(monkeypatch, flux) == 0
    [board] = dashboards(emu)
    assert pr_files(flux, "a") == [SONARR_FILE]

    # The writer skips sonarr and asks for a recompute in one edit; GitHub sends `issues: edited`.
    before, after = tick(emu, board.number, [f"skip={SONARR}", "recompute"], token)
    emu.events.clear()  # the feed can lag: this run must rely on the webhook payload alone
    assert run(monkeypatch, flux, "issues", edited(board.number, before, after, "octocat")) == 0

    # Sonarr left the PR at once; with the slot free, radarr (the next best) took it.
    assert pr_files(flux, "b") == [RADARR_FILE]
    assert dm.parse_state(board.body).skips == (SONARR,)
    assert dm.boxes(board.body)["recompute"] is False  # reset once done
    assert dm.boxes(board.body)[f"skip={SONARR}"] is True  # listed under "Skipped from this issue"
    assert prstate.parse(emu.pulls[1].body).skips == ()  # the dashboard keeps its skips, not the PR

    # Unticking the skip (with a recompute) sizes sonarr again at once.
    before = board.body
    after = before.replace(f"- [x] <!-- rightsizer:skip={SONARR} -->", f"- [ ] <!-- rightsizer:skip={SONARR} -->")
    after = after.replace("- [ ] <!-- rightsizer:recompute -->", "- [x] <!-- rightsizer:recompute -->")
    r = requests.patch(f"{emu.base_url}/repos/{emu.owner}/{emu.name}/issues/{board.number}", json={"body": after},
                       headers={"Authorization": f"token {token}"}, timeout=10)
    assert r.status_code == 200
    assert run(monkeypatch, flux, "issues", edited(board.number, before, after, "octocat")) == 0
    assert pr_files(flux, "c") == [SONARR_FILE]
    assert dm.parse_state(board.body).skips == ()


def test_an_edit_without_recompute_only_records_the_request(monkeypatch, flux):
    emu = flux[0]
    token = add_writer(emu)
    assert run(monkeypatch, flux) == 0
    [board] = dashboards(emu)
    head = emu.ref_sha("rightsizer/resources")
    before, after = tick(emu, board.number, f"include={RADARR}", token)
    assert run(monkeypatch, flux, "issues", edited(board.number, before, after, "octocat")) == 0
    assert emu.ref_sha("rightsizer/resources") == head  # the PR waits for the next scheduled run
    assert dm.parse_state(board.body).includes == (RADARR,)


def test_the_policy_turns_the_dashboard_off(monkeypatch, flux):
    emu, _, work, _ = flux
    from .support import git

    (work / ".github").mkdir(exist_ok=True)
    (work / ".github" / "rightsizer.yaml").write_text(CHART_POLICY + "dashboard:\n  enabled: false\n")
    git(work, "add", ".")
    git(work, "commit", "-qm", "policy")
    git(work, "push", "-q", "origin", "main")
    assert run(monkeypatch, flux) == 0
    assert dashboards(emu) == [] and emu.pulls  # the PR still opens


def test_a_lost_create_response_leaves_one_dashboard(monkeypatch, flux):
    # GitHub creates the issue but the answer is lost (502); PyGithub retries the POST and a second
    # issue appears. The bot closes the newer one, so exactly one open dashboard remains.
    emu = flux[0]
    emu.inject("POST", r"/issues$", 502, after=True)
    assert run(monkeypatch, flux) == 0
    open_boards = [i for i in dashboards(emu) if i.state == "open" and dm.MARKER in i.body]
    assert len(open_boards) == 1
    assert len(dashboards(emu)) == 2  # the duplicate exists, closed and unmarked
    assert run(monkeypatch, flux) == 0
    assert len([i for i in dashboards(emu) if i.state == "open"]) == 1


def test_a_removed_label_does_not_make_a_second_dashboard(monkeypatch, flux):
    emu = flux[0]
    assert run(monkeypatch, flux) == 0
    [board] = dashboards(emu)
    board.labels.clear()  # a person took the label off
    assert run(monkeypatch, flux) == 0
    assert list(emu.issues) == [board.number]


def test_a_tick_made_while_the_run_works_is_not_overwritten(monkeypatch, flux):
    from bot.github import dashboard
    from bot.github.client import ClientSettings, connect
    from bot.github.publish import Target

    emu = flux[0]
    token = add_writer(emu)
    assert run(monkeypatch, flux) == 0
    [board] = dashboards(emu)
    repo = connect(TOKEN, ClientSettings(base_url=emu.base_url, write_pause=0)).get_repo(f"{emu.owner}/{emu.name}")
    target = Target(repo=repo, base="main", bot_login=None)
    settings = dashboard.Settings()
    steering = dashboard.read(target, settings)  # the run reads the issue ...
    _, ticked = tick(emu, board.number, f"include={RADARR}", token)  # ... a writer ticks meanwhile ...
    from tests.report.test_dashboard_text import view

    action, _ = dashboard.write(target, settings, steering, view())  # ... and the run would write now
    assert action.startswith("edited meanwhile") and board.body == ticked
    assert run(monkeypatch, flux) == 0  # the next run counts the tick
    assert dm.parse_state(board.body).includes == (RADARR,)


def test_issue_events_other_than_dashboard_edits_do_nothing(monkeypatch, flux, capsys):
    emu = flux[0]
    payload = edited(5, "a", "b", "octocat")
    payload["issue"]["labels"] = [{"name": "bug"}]
    assert run(monkeypatch, flux, "issues", payload) == 0
    assert "ignored: not the dashboard issue" in capsys.readouterr().out
    assert emu.log == []
