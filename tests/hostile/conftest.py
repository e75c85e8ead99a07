"""Hostile and messy input (issue 17): a repository, a snapshot and a policy that work, and a
runner that records everything the CLI prints, so every test can be checked for leaked secrets."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

# bjw-s app-template: a chart the adapter maps without a policy (controller `main`, container `app`).
HELMRELEASE = """\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: {name}
  namespace: media
spec:
  chart:
    spec:
      chart: app-template
  values:
    controllers:
      main:
        containers:
          app:
            resources:
              requests:
                cpu: 1000m
                memory: 2Gi
"""


def usage(cores: float, nbytes: int) -> dict:
    flat = lambda v: {"p50": v, "p90": v, "p95": v, "p99": v, "max": v}  # noqa: E731
    return {"cpu": flat(cores), "memory": flat(nbytes)}


def workload(name: str, node: str = "n1") -> dict:
    # Requests 1000m / 2Gi, usage 100m / 500 MB: far below, so the plan shrinks both.
    return {"kind": "Deployment", "namespace": "media", "name": name,
            "helmRelease": {"name": name, "namespace": "media"},
            "pods": [{"name": f"{name}-0", "node": node}],
            "containers": [{"name": "app", "requests": {"cpu": "1000m", "memory": "2Gi"},
                            "usage": usage(0.1, 500_000_000), "coverageSeconds": 14 * 86400}]}


def snapshot(**over) -> dict:
    data = {"version": 1, "collectedAt": "2026-11-22T10:00:00Z", "window": "14d",
            "nodes": [{"name": "n1", "allocatable": {"cpu": "8", "memory": "32Gi"}}],
            "workloads": [workload("radarr"), workload("sonarr")]}
    data.update(over)
    return data


def tree_digest(root: Path) -> dict[str, str]:
    """Every entry under root (files by content hash, symlinks by target, others by kind):
    equal digests before and after = nothing was written, created or removed."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = "link:" + os.readlink(p)
            elif p.is_file():
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
            else:
                out[rel] = "dir" if p.is_dir() else "special"
    return out


@dataclass
class Result:
    code: int
    out: str
    err: str
    seconds: float

    @property
    def text(self) -> str:
        return self.out + self.err


@dataclass
class World:
    """A GitOps checkout with two HelmReleases, a snapshot that shrinks both, and the folder
    around them (``outside``) that nothing may ever touch."""

    root: Path
    repo: Path
    outside: Path
    snap: Path
    outputs: list[str] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)

    def write_snapshot(self, data: dict | str, name: str = "snap.json") -> Path:
        path = self.root / name
        path.write_text(data if isinstance(data, str) else json.dumps(data))
        return path

    def policy(self, text: str, name: str = ".github/rightsizer.yaml") -> Path:
        path = self.repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def cli(self, *args: str, env: dict[str, str] | None = None, timeout: float = 60) -> Result:
        """The CLI as a user runs it (a subprocess), output recorded for the secret check."""
        start = time.monotonic()
        # cwd: the test's folder, so outputs with a default relative path (run's report) land there.
        r = subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True, timeout=timeout, cwd=self.root,
                           env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), **(env or {})})
        self.outputs.append(r.stdout + r.stderr)
        return Result(r.returncode, r.stdout, r.stderr, time.monotonic() - start)

    def plan(self, *extra: str, snap: Path | None = None, env: dict[str, str] | None = None, timeout: float = 60) -> Result:
        return self.cli("plan", "--snapshot", str(snap or self.snap), "--repo", str(self.repo), "--write", "--quiet",
                        *extra, env=env, timeout=timeout)

    def digest(self) -> dict[str, str]:
        return tree_digest(self.root)


def forms(secret: str) -> set[str]:
    """A secret as it could leak: verbatim, stripped, and base64 (Basic auth, echoed headers)."""
    out = set()
    for s in {secret, secret.strip()}:
        if len(s) >= 4:
            out |= {s, base64.b64encode(s.encode()).decode().rstrip("=")}
    return out


@pytest.fixture
def world(tmp_path) -> World:
    root = tmp_path
    repo, outside = root / "repo", root / "outside"
    (repo / "apps").mkdir(parents=True)
    outside.mkdir()
    for name in ("radarr", "sonarr"):
        (repo / "apps" / f"{name}.yaml").write_text(HELMRELEASE.format(name=name))
    (outside / "values.yaml").write_text("resources:\n  requests:\n    cpu: 1000m\n    memory: 2Gi\n")
    w = World(root, repo, outside, root / "snap.json")
    w.write_snapshot(snapshot())
    yield w
    # No test output may contain a secret the test handed to the bot, in any form.
    for text in w.outputs:
        assert "Traceback" not in text, text
        for secret in w.secrets:
            for form in forms(secret):
                assert form not in text, f"secret leaked ({form!r}) in:\n{text}"
