"""`rightsizer run` as the Action calls it: exit codes, annotations, outputs, clean stops."""

from __future__ import annotations

import time
from pathlib import Path

from bot.cli import main
from .support import TOKEN, git
from .drafts import MINIMAL_SNAPSHOT


def setenv(monkeypatch, github, tmp_path, token=TOKEN):
    values = {"GITHUB_REPOSITORY": f"{github.owner}/{github.name}", "GITHUB_API_URL": github.base_url,
              "GITHUB_OUTPUT": str(tmp_path / "out.txt"), "RUNNER_TEMP": str(tmp_path / "rt"),
              "GITHUB_ACTIONS": "true", "RIGHTSIZER_GITHUB_TOKEN": token}
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


def snapshot_file(tmp_path: Path) -> str:
    p = tmp_path / "snap.yaml"
    p.write_text(MINIMAL_SNAPSHOT)
    return str(p)


def test_policy_error_is_an_annotation_and_nothing_is_written(monkeypatch, github, origin, tmp_path, capsys):
    _, work = origin
    (work / ".github").mkdir()
    (work / ".github" / "rightsizer.yaml").write_text("mode: pr\nbogus_key: 3\n")
    setenv(monkeypatch, github, tmp_path)
    code = main(["run", "--repo", str(work), "--snapshot", snapshot_file(tmp_path), "--github-annotations",
                 "--api-write-pause", "0"])
    out = capsys.readouterr()
    assert code == 2
    assert "::error file=.github/rightsizer.yaml,line=2,title=rightsizer::bogus_key:" in out.out
    assert "Traceback" not in out.err
    assert github.writes() == [] and not github.pulls


def test_missing_token_is_a_clear_input_error(monkeypatch, github, origin, tmp_path, capsys):
    _, work = origin
    setenv(monkeypatch, github, tmp_path, token="")
    code = main(["run", "--repo", str(work), "--snapshot", snapshot_file(tmp_path), "--github-annotations"])
    out = capsys.readouterr()
    assert code == 2 and "token is missing" in out.err and "::error file=<action inputs>" in out.out
    assert github.log == []


def test_rate_limit_exhaustion_stops_with_one_clear_error(monkeypatch, github, origin, tmp_path, capsys):
    _, work = origin
    setenv(monkeypatch, github, tmp_path)
    # Reset an hour away: more than the 5-minute wait we accept.
    github.inject("GET", r"/pulls$", 403, times=50, headers={
        "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(time.time()) + 3600)},
        message="API rate limit exceeded for installation ID 1.")
    started = time.monotonic()
    code = main(["run", "--repo", str(work), "--snapshot", snapshot_file(tmp_path), "--api-write-pause", "0"])
    out = capsys.readouterr()
    assert code == 1 and time.monotonic() - started < 30
    assert "::error title=rightsizer::GitHub API rate limit exhausted" in out.out
    assert "Traceback" not in out.err and github.writes() == []


def test_bad_token_is_explained(monkeypatch, github, origin, tmp_path, capsys):
    _, work = origin
    setenv(monkeypatch, github, tmp_path, token="ghs_wrong")
    code = main(["run", "--repo", str(work), "--snapshot", snapshot_file(tmp_path), "--api-write-pause", "0"])
    assert code == 1 and "token was rejected (401)" in capsys.readouterr().out


def test_dry_run_without_token_plans_and_reports(monkeypatch, github, origin, tmp_path, capsys):
    import os

    from bot.cli import build_parser
    from bot.commands import run as run_command
    from .drafts import HandPlanner

    _, work = origin
    setenv(monkeypatch, github, tmp_path, token="")
    args = build_parser().parse_args(["run", "--repo", str(work), "--snapshot", snapshot_file(tmp_path), "--dry-run"])
    planner = HandPlanner(work, {"apps/media/sonarr.yaml": ("150m", "300Mi")})
    assert run_command.run(args, dict(os.environ), pipeline=planner) == 0
    assert github.log == []
    out = (tmp_path / "out.txt").read_text()
    assert "changes<<" in out and "\n1\n" in out
    assert (tmp_path / "rt" / "rightsizer" / "report.json").exists()
    assert "dry run: 1 change(s) planned" in capsys.readouterr().out


def test_low_budget_stops_before_the_first_write(monkeypatch, github, origin, tmp_path, capsys):
    import os

    from bot.cli import build_parser
    from bot.commands import run as run_command
    from .drafts import HandPlanner

    _, work = origin
    setenv(monkeypatch, github, tmp_path)
    github.rate_remaining = 12  # fewer than a publish may need (60)
    args = build_parser().parse_args(["run", "--repo", str(work), "--snapshot", snapshot_file(tmp_path),
                                      "--api-write-pause", "0"])
    planner = HandPlanner(work, {"apps/media/sonarr.yaml": ("150m", "300Mi")})
    assert run_command.run(args, dict(os.environ), pipeline=planner) == 1
    out = capsys.readouterr().out
    assert "::error title=rightsizer::GitHub API rate limit nearly exhausted: only 12 GitHub API requests left" in out
    assert github.writes() == [] and github.ref_sha("rightsizer/resources") is None
