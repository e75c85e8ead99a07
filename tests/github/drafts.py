"""PullRequestDraft-shaped values for publishing tests that do not need the engine.

The production type lives in ``bot.pipeline``; these tests exercise only the publishing
layer, so they build drafts of the same shape by hand (end-to-end tests use the pipeline).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Draft:
    scope: str
    title: str
    body: str
    files: dict[str, bytes]
    changes: int
    labels: tuple[str, ...]
    fingerprint: str
    summary_lines: list[str] = field(default_factory=list)


def resize(work: Path, changes: dict[str, tuple[str, str]], scope: str = "resources",
           labels: tuple[str, ...] = ("rightsizer", "resources")) -> Draft:
    """A draft that sets ``cpu``/``memory`` requests of demo HelmRelease files.

    ``changes`` maps repo path -> (new cpu, new memory); the new file content is the old one
    with just those two values replaced, as the GitOps adapter would produce."""
    files: dict[str, bytes] = {}
    lines: list[str] = []
    for rel, (cpu, mem) in sorted(changes.items()):
        old = (work / rel).read_text()
        new_lines = []
        for line in old.splitlines(keepends=True):
            key = line.strip().split(":", 1)[0]
            indent = line[: len(line) - len(line.lstrip())]
            if key == "cpu":
                old_cpu = line.split(":", 1)[1].strip()
                line = f"{indent}cpu: {cpu}\n"
            elif key == "memory":
                old_mem = line.split(":", 1)[1].strip()
                line = f"{indent}memory: {mem}\n"
            new_lines.append(line)
        files[rel] = "".join(new_lines).encode()
        name = Path(rel).stem
        lines.append(f"media/{name}/app: cpu {old_cpu} → {cpu}, memory {old_mem} → {mem}")
    fp = hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]
    body = "## Rightsizer: resource requests\n\n" + "\n".join(f"- {l}" for l in lines) + "\n"
    return Draft(scope, f"Right-size {len(lines)} container(s)", body, files, len(lines), labels, fp, lines)


REPORT = {
    "nodes": [
        {"name": "m720q", "allocatable": {"cpu": 6000, "memory": 32 * 2**30},
         "budget": {"cpu": 3600, "memory": 20 * 2**30},
         "before": {"cpu": 2000, "memory": 8 * 2**30}, "after": {"cpu": 1800, "memory": 9 * 2**30}},
        {"name": "pi4", "allocatable": {"cpu": 4000, "memory": 8 * 2**30},
         "budget": {"cpu": 2400, "memory": 5 * 2**30},
         "before": {"cpu": 500, "memory": 2 * 2**30}, "after": {"cpu": 450, "memory": 2 * 2**30}},
    ]
}


@dataclass
class HandResult:
    drafts: list
    report: dict
    step_summary: str
    explain: object
    warnings: list = field(default_factory=list)


class HandPlanner:
    """A stand-in for ``bot.pipeline.run_pipeline`` with the same call shape, for publishing and
    command tests that must not depend on the engine's numbers: it proposes ``wanted``
    (repo path -> (cpu, memory)) minus whatever the overrides skip, and records its calls."""

    def __init__(self, work: Path, wanted: dict[str, tuple[str, str]]):
        self.work, self.wanted = work, dict(wanted)
        self.calls: list = []

    def __call__(self, repo_dir, snapshot, policy_path, overrides, **kw):
        self.calls.append((overrides, kw))
        keep = {path: v for path, v in self.wanted.items()
                if not overrides.skipped("media", Path(path).stem, "app")}
        drafts = [resize(self.work, keep)] if keep else []
        summary = "# Rightsizer\n\n" + "\n".join(f"- {p}" for p in sorted(keep)) + "\n"
        return HandResult(drafts, REPORT, summary, lambda ref: f"### Why `{ref}`\n\np95 usage plus headroom.")


MINIMAL_SNAPSHOT = """\
version: 1
collectedAt: "2026-11-22T10:00:00Z"
window: 14d
nodes: []
workloads: []
"""
