"""The Action and the workflows: actionlint and zizmor with zero findings, plus the shell steps
of action.yml executed for real (masking, argument building, credential files)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[2]
ACTION = ROOT / "action.yml"
WORKFLOWS = sorted((ROOT / "examples" / "workflows").glob("*.yml")) + sorted((ROOT / ".github" / "workflows").glob("*.yml"))


# How GitHub runs `shell: bash` steps: errexit and pipefail on.
GITHUB_BASH = ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c"]


def load(path: Path):
    return YAML(typ="safe").load(path.read_text())


def tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed: `pip install -e .[test]` provides it")
    return found


def test_workflow_files_exist():
    names = {p.relative_to(ROOT).as_posix() for p in WORKFLOWS}
    assert {"examples/workflows/rightsizer.yml", ".github/workflows/ci.yml"} <= names


def test_actionlint_has_no_findings_on_workflows():
    out = subprocess.run([tool("actionlint"), "-no-color", *map(str, WORKFLOWS)], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0 and out.stdout == "", out.stdout + out.stderr


def test_actionlint_checks_action_metadata_through_a_workflow_using_it(tmp_path):
    # actionlint reads a local action's metadata when a workflow uses it: every input we pass
    # must exist, and action.yml must parse as action metadata.
    shutil.copy(ACTION, tmp_path / "action.yml")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)  # actionlint finds the project root by .git
    wf = tmp_path / ".github" / "workflows"
    wf.mkdir(parents=True)
    inputs = load(ACTION)["inputs"]
    with_lines = "\n".join(f"          {k}: x" for k in inputs)
    (wf / "use.yml").write_text(f"""\
on: workflow_dispatch
permissions: {{}}
jobs:
  use:
    runs-on: ubuntu-24.04
    steps:
      - uses: ./
        with:
{with_lines}
          not-an-input: x
""")
    out = subprocess.run([tool("actionlint"), "-no-color"], capture_output=True, text=True, cwd=tmp_path)
    # The deliberately unknown input proves the metadata was read; nothing else may be reported.
    lines = [l for l in out.stdout.splitlines() if ".yml:" in l]
    assert len(lines) == 1 and 'input "not-an-input" is not defined' in lines[0], out.stdout


def test_zizmor_has_no_findings():
    out = subprocess.run([tool("zizmor"), "--offline", "--no-progress", str(ACTION), *map(str, WORKFLOWS)],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "No findings to report" in out.stdout
    # Each ignore is justified inline (the comment carries a reason after the rule).
    for path in [ACTION, *WORKFLOWS]:
        for line in path.read_text().splitlines():
            if "zizmor: ignore[" in line:
                assert len(line.split("]", 1)[1].strip()) > 10, f"{path.name}: unjustified ignore: {line}"


def _run_steps(doc) -> list[dict]:
    return [s for s in doc["runs"]["steps"] if "run" in s]


def test_no_expressions_inside_run_scripts():
    for path in [ACTION, *WORKFLOWS]:
        doc = load(path)
        steps = _run_steps(doc) if path == ACTION else [
            s for job in doc["jobs"].values() for s in job.get("steps", []) if "run" in s]
        for step in steps:
            assert "${{" not in step["run"], f"{path.name}: step {step.get('name')} interpolates into run:"


def test_action_shell_scripts_parse():
    for step in _run_steps(load(ACTION)):
        out = subprocess.run(["bash", "-n"], input=step["run"], capture_output=True, text=True)
        assert out.returncode == 0, f"{step['name']}: {out.stderr}"


def test_action_interface():
    doc = load(ACTION)
    assert doc["runs"]["using"] == "composite"
    assert set(doc["outputs"]) == {"pr-number", "pr-url", "changes", "report-path"}
    for name in ("token", "policy", "mode", "dry-run", "prometheus-url", "prometheus-token", "prometheus-username",
                 "prometheus-password", "prometheus-headers", "prometheus-ca", "prometheus-insecure",
                 "kubeconfig", "kube-state-metrics", "snapshot", "max-changes", "namespaces",
                 "pushgateway-url", "pushgateway-token", "pushgateway-username", "pushgateway-password",
                 "pushgateway-headers"):
        assert name in doc["inputs"], name
    install = next(s for s in doc["runs"]["steps"] if s["name"].startswith("Install"))
    assert '"$RUNNER_TEMP/rightsizer-venv"' in install["run"] and '"$GITHUB_ACTION_PATH"' in install["run"]


def test_example_workflow_manners():
    doc = load(ROOT / "examples" / "workflows" / "rightsizer.yml")
    on = doc[True] if True in doc else doc["on"]  # YAML 1.1 reads `on` as true
    assert set(on) == {"schedule", "workflow_dispatch", "issue_comment", "issues"}
    assert set(on["workflow_dispatch"]["inputs"]) == {"mode", "dry-run", "namespaces", "max-changes"}
    assert on["issue_comment"]["types"] == ["created"]
    assert on["issues"]["types"] == ["edited"]  # dashboard ticks; the bot checks the editor's permission
    assert doc["permissions"] == {}
    assert doc["concurrency"]["cancel-in-progress"] is False
    [job] = doc["jobs"].values()
    assert job["permissions"] == {"contents": "write", "pull-requests": "write", "issues": "write"}
    checkout = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["persist-credentials"] is False
    assert checkout["with"]["ref"] == "${{ github.event.repository.default_branch }}"
    assert len(checkout["uses"].split("@")[1]) == 40  # pinned to a commit


def test_example_workflow_runs_two_schedules_and_keeps_the_report():
    doc = load(ROOT / "examples" / "workflows" / "rightsizer.yml")
    on = doc[True] if True in doc else doc["on"]
    weekly, daily = (c["cron"] for c in on["schedule"])
    assert weekly.endswith(" * * 1") and daily.endswith(" * * *")
    [job] = doc["jobs"].values()
    bot = next(s for s in job["steps"] if s.get("id") == "rightsizer")
    # The daily schedule forces report mode; the weekly one and manual runs keep the chosen mode.
    assert bot["with"]["mode"] == f"${{{{ github.event.schedule == '{daily}' && 'report' || inputs.mode }}}}"
    assert "pushgateway-url" in bot["with"]
    upload = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert len(upload["uses"].split("@")[1].split()[0]) == 40
    assert upload["if"] == "${{ !cancelled() }}"  # a failed run's report is the one people need
    assert upload["with"]["path"] == "${{ runner.temp }}/rightsizer/"  # where `run` writes report.json, report.md, metrics.prom


def test_ci_workflow_least_privilege():
    doc = load(ROOT / ".github" / "workflows" / "ci.yml")
    assert doc["permissions"] == {}
    [job] = doc["jobs"].values()
    assert job["permissions"] == {"contents": "read"}
    assert any(s.get("run") == "bash .ci/run" for s in job["steps"])


def _step_env(step: dict, values: dict[str, str]) -> dict[str, str]:
    """The step's env with each `${{ inputs.x }}` replaced by values[x] (default '')."""
    env = {}
    for key, expr in step.get("env", {}).items():
        name = expr.replace("${{", "").replace("}}", "").strip().removeprefix("inputs.")
        env[key] = values.get(name, "")
    return env


def test_mask_step_masks_each_secret_line():
    step = next(s for s in load(ACTION)["runs"]["steps"] if s["name"] == "Mask secrets")
    kubeconfig = "apiVersion: v1\nusers:\n- name: ci\n  user:\n    token: kube-secret-token-123\n    client-key-data: \"S0VZREFUQQ==\"\n"
    env = _step_env(step, {"token": "ghs_abc123", "prometheus-password": "pa ss\nword2",
                           "prometheus-headers": "X-Scope-OrgID: tenant-42\nAuthorization: Bearer hdr-secret",
                           "kubeconfig": kubeconfig, "pushgateway-password": "push-pass-77",
                           "pushgateway-headers": "X-Push: push-hdr-99"})
    out = subprocess.run([*GITHUB_BASH, step["run"]], env={"PATH": os.environ["PATH"], **env},
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    masked = {l.removeprefix("::add-mask::") for l in out.stdout.splitlines()}
    assert all(l.startswith("::add-mask::") for l in out.stdout.splitlines())
    assert {"ghs_abc123", "pa ss", "word2", "X-Scope-OrgID: tenant-42", "tenant-42",
            "Authorization: Bearer hdr-secret", "Bearer hdr-secret", "kube-secret-token-123", "S0VZREFUQQ==",
            "push-pass-77", "push-hdr-99"} <= masked
    assert "apiVersion: v1" not in masked and "v1" not in masked


def test_run_step_builds_arguments_and_cleans_credential_files(tmp_path):
    step = next(s for s in load(ACTION)["runs"]["steps"] if s["name"] == "Run Rightsizer")
    runner_temp = tmp_path / "runner"
    bindir = runner_temp / "rightsizer-venv" / "bin"
    bindir.mkdir(parents=True)
    record = tmp_path / "record.txt"
    # Stand-in for the installed CLI: records argv, the kubeconfig's mode/content and the env.
    (bindir / "rightsizer").write_text(f"""#!/usr/bin/env bash
printf '%s\\n' "$@" > {record}
kc=""; prev=""
for a in "$@"; do [ "$prev" = --kubeconfig ] && kc="$a"; prev="$a"; done
stat -c '%a' "$kc" >> {record}
cat "$kc" >> {record}
echo "token=$RIGHTSIZER_GITHUB_TOKEN" >> {record}
env | grep -c '^IN_KUBECONFIG=' >> {record} || true
exit 3
""")
    (bindir / "rightsizer").chmod(0o755)
    env = _step_env(step, {"token": "ghs_x", "mode": "report", "dry-run": "true", "namespaces": "media,apps",
                           "max-changes": "5", "kubeconfig": "apiVersion: v1\nkind: Config",
                           "prometheus-url": "https://prom.example:9090", "kube-state-metrics": "false",
                           "prometheus-insecure": "false", "snapshot": ""})
    out = subprocess.run([*GITHUB_BASH, step["run"]], env={"PATH": os.environ["PATH"],
                         "RUNNER_TEMP": str(runner_temp), **env}, capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 3  # the CLI's exit status is the step's
    lines = record.read_text().splitlines()
    kc = str(runner_temp / "rightsizer-kubeconfig")
    argv = lines[: lines.index("600")]
    assert argv == ["event", "--repo", ".", "--github-annotations", "--mode", "report", "--dry-run",
                    "--prometheus-url", "https://prom.example:9090", "--max-changes", "5",
                    "--namespaces", "media,apps", "--kubeconfig", kc]
    rest = lines[lines.index("600") + 1:]
    assert rest == ["apiVersion: v1", "kind: Config", "token=ghs_x", "0"]
    assert not Path(kc).exists()  # removed after the run


def test_docs_workflow_is_the_example_workflow():
    # docs/action.md shows the copy-paste workflow; it must say what the linted example says.
    text = (ROOT / "docs" / "action.md").read_text()
    block = text.split("```yaml\n", 1)[1].split("\n```", 1)[0]
    assert YAML(typ="safe").load(block) == load(ROOT / "examples" / "workflows" / "rightsizer.yml")


def test_readme_workflow_is_the_example_workflow():
    # Byte for byte: the README's copy keeps the example's comments too, among them the
    # justifications of its zizmor ignores (a YAML comparison would not see them).
    block = (ROOT / "README.md").read_text().split("```yaml\n", 1)[1].split("\n```", 1)[0] + "\n"
    assert block == (ROOT / "examples" / "workflows" / "rightsizer.yml").read_text()
    assert block.count("# zizmor: ignore[") == 2


def _lock_pins(text: str) -> dict[str, tuple[str, int]]:
    """name -> (version, number of --hash options) from a pip-compile lock."""
    pins: dict[str, tuple[str, int]] = {}
    for entry in text.replace("\\\n", " ").splitlines():
        entry = entry.split("#", 1)[0].strip()
        if entry:
            req, *opts = entry.split()
            name, version = req.split("==")
            pins[name.lower().replace("_", "-").replace(".", "-")] = (version, sum(o.startswith("--hash=sha256:") for o in opts))
    return pins


def test_action_installs_only_hash_pinned_dependencies():
    from packaging.requirements import Requirement
    import tomllib

    step = next(s for s in load(ACTION)["runs"]["steps"] if s["name"].startswith("Install Rightsizer"))
    installs = [" ".join(l.strip().rstrip("\\") for l in cmd.splitlines()) for cmd in step["run"].split('"$venv/bin/python" -m pip install')[1:]]
    # Two installs: the lock with --require-hashes, then our own code with nothing resolved or fetched.
    assert len(installs) == 2
    assert "--require-hashes" in installs[0].split() and '"$GITHUB_ACTION_PATH/requirements/action.lock"' in installs[0]
    assert {"--no-deps", "--no-index", "--no-build-isolation"} <= set(installs[1].split())
    pins = _lock_pins((ROOT / "requirements" / "action.lock").read_text())
    assert pins and all(n >= 1 for _, n in pins.values()), [k for k, (_, n) in pins.items() if n == 0]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    # Every runtime dependency and the build backend is locked at a version the project accepts;
    # otherwise scripts/lock-action-deps.sh was not re-run after pyproject.toml changed.
    for spec in [*project["project"]["dependencies"], *project["build-system"]["requires"]]:
        req = Requirement(spec)
        key = req.name.lower().replace("_", "-").replace(".", "-")
        assert key in pins and req.specifier.contains(pins[key][0]), f"{spec} not locked (run scripts/lock-action-deps.sh)"


@pytest.mark.parametrize("name,url,secret_forms,not_masked", [
    ("prometheus-url", "https://admin:pa%3Ass@prom.example:9090/prometheus", {"pa%3Ass", "admin:pa%3Ass", "YWRtaW46cGElM0Fzcw=="}, "prom.example"),
    ("prometheus-url", "https://tokenonly@prom.example/", {"tokenonly", "dG9rZW5vbmx5"}, "prom.example"),
    ("prometheus-url", "https://prom.example/query@v1", set(), "prom.example/query"),  # an @ in the path is not userinfo
    ("pushgateway-url", "https://push:pw-9xyz@gw.example/", {"pw-9xyz", "push:pw-9xyz", "cHVzaDpwdy05eHl6"}, "gw.example"),
])
def test_mask_step_masks_url_passwords_and_base64_forms(name, url, secret_forms, not_masked):
    step = next(s for s in load(ACTION)["runs"]["steps"] if s["name"] == "Mask secrets")
    env = _step_env(step, {"token": "ghs_abc123", name: url})
    out = subprocess.run([*GITHUB_BASH, step["run"]], env={"PATH": os.environ["PATH"], **env},
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    masked = {l.removeprefix("::add-mask::") for l in out.stdout.splitlines()}
    # base64("x-access-token:ghs_abc123"): the form Basic auth to GitHub would print.
    assert secret_forms <= masked and "eC1hY2Nlc3MtdG9rZW46Z2hzX2FiYzEyMw==" in masked
    assert not any(not_masked in m for m in masked)
