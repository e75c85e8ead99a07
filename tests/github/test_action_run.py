"""action.yml executed step by step the way the runner does (bash -eo pipefail, inputs via env,
$GITHUB_ACTION_PATH, $RUNNER_TEMP): a real pip install into the isolated venv, then the real
CLI answering a `/rightsize help` comment on the emulated GitHub."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from .support import TOKEN, git
from .test_end_to_end import CHART_POLICY, HELMRELEASE, _gitops_ready, snapshot
from .openapi import webhook_examples
from .test_workflows import ACTION, GITHUB_BASH, ROOT, _step_env

pytestmark = [
    pytest.mark.slow,  # ~35 s: builds and installs the package into a fresh venv
    pytest.mark.skipif(not _gitops_ready(), reason="bot.gitops is not in this build yet"),
]


def test_action_answers_a_comment_then_publishes_on_dispatch(github, origin, tmp_path):
    _, work = origin
    # The repository holds two Flux HelmReleases the real pipeline will resize (replacing the
    # fixture's flat files, which declare the same releases: the adapter refuses ambiguity).
    git(work, "rm", "-q", "apps/media/sonarr.yaml", "apps/media/radarr.yaml")
    for name, cpu, mem, lim in (("sonarr", "1000m", "2Gi", "4Gi"), ("radarr", "800m", "1Gi", "2Gi")):
        path = work / "apps" / "media" / name / "helmrelease.yaml"
        path.parent.mkdir(parents=True)
        path.write_text(HELMRELEASE.format(name=name, cpu=cpu, memory=mem, limit=lim))
    (work / ".github").mkdir(exist_ok=True)
    (work / ".github" / "rightsizer.yaml").write_text(CHART_POLICY)  # charts outside the table: mapped (issue 12)
    git(work, "add", ".")
    git(work, "commit", "-qm", "apps")
    git(work, "push", "-q", "origin", "main")
    snap = tmp_path / "snapshot.json"
    snap.write_text(json.dumps(snapshot(280_000_000)))
    # A bot PR to comment on.
    subprocess.run(["git", "-C", str(work), "push", "-q", "origin", "HEAD:refs/heads/rightsizer/resources"], check=True)
    from .emulator import BOT, Pull

    github.pulls[1] = Pull(1, "Right-size 1 container(s)", "plan", "rightsizer/resources", "main", BOT)
    c = github.add_comment(1, "/rightsize help", "Codertocat")
    payload = copy.deepcopy(webhook_examples()["issue_comment"][0])
    payload["issue"]["number"] = 1
    payload["issue"]["pull_request"] = {"url": f"{github.base_url}/repos/octo-org/octo-repo/pulls/1"}
    payload["comment"].update(id=c.id, body="/rightsize help")
    event = tmp_path / "event.json"
    event.write_text(json.dumps(payload))

    runner_temp = tmp_path / "runner-temp"
    runner_temp.mkdir()
    base_env = {
        "PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", str(tmp_path)),
        "GITHUB_ACTIONS": "true", "GITHUB_ACTION_PATH": str(ROOT), "RUNNER_TEMP": str(runner_temp),
        "GITHUB_EVENT_NAME": "issue_comment", "GITHUB_EVENT_PATH": str(event),
        "GITHUB_REPOSITORY": "octo-org/octo-repo", "GITHUB_API_URL": github.base_url,
        "GITHUB_OUTPUT": str(tmp_path / "output"), "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    inputs = {"token": TOKEN, "prometheus-token": "prom-secret-xyz", "working-directory": str(work)}
    log = []
    for step in YAML(typ="safe").load(ACTION.read_text())["runs"]["steps"]:
        cwd = step.get("working-directory", ".").replace("${{ inputs.working-directory }}", inputs["working-directory"])
        out = subprocess.run([*GITHUB_BASH, step["run"]], env={**base_env, **_step_env(step, inputs)},
                             cwd=cwd if cwd != "." else work, capture_output=True, text=True, timeout=600)
        log.append(out.stdout + out.stderr)
        assert out.returncode == 0, f"step {step['name']!r} failed:\n{out.stdout}\n{out.stderr}"

    masks = log[0].splitlines()
    assert "::add-mask::" + TOKEN in masks and "::add-mask::prom-secret-xyz" in masks
    venv = runner_temp / "rightsizer-venv"
    assert (venv / "bin" / "rightsizer").exists()
    # The caller's Python is untouched: the package went into the venv only.
    assert subprocess.run([sys.executable, "-c", "import sys; print(sys.prefix)"], capture_output=True,
                          text=True).stdout.strip() != str(venv)
    assert "rightsizer: comment command: done: help" in log[2]
    assert [r for cid, r, _ in github.reactions if cid == c.id] == ["eyes", "+1"]
    reply = [x.body for x in github.comments.values() if x.user == BOT]
    assert len(reply) == 1 and "/rightsize recompute" in reply[0]
    assert "prom-secret-xyz" not in "".join(log[1:]) and TOKEN not in "".join(log[1:])

    # Same installed action, now a workflow_dispatch with a snapshot: the real pipeline plans,
    # the PR is updated, and the step outputs name it.
    dispatch = copy.deepcopy(webhook_examples()["workflow_dispatch"][0])
    event.write_text(json.dumps(dispatch))
    run_step = YAML(typ="safe").load(ACTION.read_text())["runs"]["steps"][-1]
    env = {**base_env, "GITHUB_EVENT_NAME": "workflow_dispatch",
           **_step_env(run_step, {**inputs, "snapshot": str(snap)})}
    out = subprocess.run([*GITHUB_BASH, run_step["run"]], env=env, cwd=work, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "::group::Measure, plan and publish" in out.stdout
    outputs = {}
    lines = Path(base_env["GITHUB_OUTPUT"]).read_text().splitlines()
    for i, line in enumerate(lines):
        if "<<" in line:
            name, delim = line.split("<<")
            outputs[name] = lines[i + 1] if lines[i + 1] != delim else ""
    assert outputs["pr-number"] == "1" and outputs["pr-url"].endswith("/pull/1") and outputs["changes"] == "2", out.stdout + out.stderr
    assert json.loads(Path(outputs["report-path"]).read_text())["nodes"][0]["name"] == "m720q"
    head = github.ref_sha("rightsizer/resources")
    assert github.git("diff", "--name-only", f"{head}^", head).splitlines() == [
        "apps/media/radarr/helmrelease.yaml", "apps/media/sonarr/helmrelease.yaml"]
    assert Path(base_env["GITHUB_STEP_SUMMARY"]).stat().st_size > 0
