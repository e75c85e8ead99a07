"""Fixtures: a real bare git repository behind a local, contract-checked GitHub API."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .emulator import GitHubEmulator
from .openapi import SPEC_PATH, load_spec
from .support import TOKEN, git

@pytest.fixture(scope="session")
def spec():
    if not SPEC_PATH.exists():
        pytest.fail(f"{SPEC_PATH} is missing: run `bash scripts/deps.d/github.sh` (or scripts/install-deps.sh)")
    return load_spec()


DEMO_FILES = {
    "apps/media/sonarr.yaml": """\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: sonarr
  namespace: media
spec:
  values:
    resources:
      requests:
        cpu: 100m
        memory: 256Mi
""",
    "apps/media/radarr.yaml": """\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: radarr
  namespace: media
spec:
  values:
    resources:
      requests:
        cpu: 200m
        memory: 512Mi
""",
    "README.md": "demo cluster\n",
}


@pytest.fixture
def origin(tmp_path: Path) -> tuple[Path, Path]:
    """(bare repository, working clone on main) holding DEMO_FILES in one commit."""
    bare = tmp_path / "origin.git"
    work = tmp_path / "work"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    work.mkdir()
    git(work, "init", "-q", "-b", "main")
    for rel, text in DEMO_FILES.items():
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_text(text)
    git(work, "add", ".")
    git(work, "commit", "-q", "-m", "initial")
    git(work, "remote", "add", "origin", str(bare))
    git(work, "push", "-q", "origin", "main")
    return bare, work


@pytest.fixture
def github(spec, origin):
    """A started emulator; fails the test if any exchange broke GitHub's published contract."""
    emu = GitHubEmulator(origin[0], spec=spec).start()
    emu.permissions.update({"Codertocat": "admin", "octocat": "write", "reader": "read"})
    yield emu
    emu.stop()
    assert not emu.violations, "GitHub OpenAPI contract violations:\n" + "\n".join(emu.violations)


@pytest.fixture
def gh(github):
    from bot.github.client import ClientSettings, connect

    return connect(TOKEN, ClientSettings(base_url=github.base_url, retries=4, backoff=0.01, write_pause=0,
                                         secondary_wait=0.2, max_wait=5))


@pytest.fixture
def repo(gh, github):
    return gh.get_repo(f"{github.owner}/{github.name}")


@pytest.fixture(autouse=True)
def _pygithub_log_stream():
    """PyGithub attaches a StreamHandler bound to the sys.stderr of import time; under pytest's
    per-test capture that stream is closed later. Point it at this test's stderr."""
    import logging

    handlers = [h for h in logging.getLogger("github").handlers if isinstance(h, logging.StreamHandler)]
    for h in handlers:
        h.stream = sys.stderr  # not setStream(): that flushes the old, closed stream
    yield
