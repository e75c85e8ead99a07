"""Shared test helpers for tests/github (kept out of conftest so tests can import them)."""

from __future__ import annotations

import subprocess
from pathlib import Path

TOKEN = "ghs_actions_token"  # the emulator's GITHUB_TOKEN-like installation token


def git(cwd: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True,
                         env={"GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
                              "GIT_COMMITTER_NAME": "Dev", "GIT_COMMITTER_EMAIL": "dev@example.com",
                              "HOME": str(cwd), "PATH": "/usr/bin:/bin:/usr/local/bin"})
    return out.stdout.strip()
