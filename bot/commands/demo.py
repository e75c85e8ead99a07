"""`rightsizer demo`: the whole job on a bundled homelab (two very different nodes, about 25 apps)."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from bot.commands.plan import write_outputs

DEMO = Path(__file__).resolve().parent.parent / "demo"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run on the bundled homelab demo and show the PR it would open", description=__doc__)
    p.add_argument("--out", metavar="DIR", default="rightsizer-demo", help="where to put the patched demo repo and the PR text (default: ./rightsizer-demo)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from bot.pipeline import run_pipeline
    from bot.report.markdown import FileLines, render_terminal_summary
    from bot.snapshot import load_snapshot

    out = Path(args.out)
    repo = out / "repo"
    if repo.exists():
        shutil.rmtree(repo)
    shutil.copytree(DEMO / "repo", repo, ignore=shutil.ignore_patterns("INVENTORY.md"))
    (repo / ".github").mkdir(exist_ok=True)
    shutil.copy(DEMO / "policy.yaml", repo / ".github" / "rightsizer.yaml")
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    # Dated well before the snapshot, so node-pool cooldowns have passed.
    _git(repo, "-c", "user.name=demo", "-c", "user.email=demo@example.invalid", "commit", "-qm", "demo homelab",
         env={"GIT_AUTHOR_DATE": "2026-10-01T12:00:00Z", "GIT_COMMITTER_DATE": "2026-10-01T12:00:00Z"})
    snapshot = load_snapshot(DEMO / "snapshot.yaml")
    result = run_pipeline(repo, snapshot, None, write=True)
    write_outputs(out, result)
    files = [FileLines(e.path, tuple(e.lines)) for e in result.edits]
    print("Rightsizer demo: a homelab with a Lenovo m720q, a Raspberry Pi 4 and one Proxmox VM worker.\n")
    sys.stdout.write(render_terminal_summary(result.plan, files))
    for pool in result.report.get("nodePools", []):
        print(f"\n{pool['summary']}")
    print(f"\nThe PR it would open: {out / 'pr.md'}" + (f" (and {out / 'pr-nodes.md'} for the node pool)" if any(d.scope == "nodes" for d in result.drafts) else ""))
    print(f"The patch:            {out / 'changes.diff'}   (see it in context: git -C {repo} diff)"
          + (f"; the node pool's: {out / 'changes-nodes.diff'}" if any(d.scope == "nodes" for d in result.drafts) else ""))
    print(f"Every decision:       {out / 'report.json'}")
    return 0


def _git(repo: Path, *args: str, env: dict[str, str] | None = None) -> None:
    if shutil.which("git"):
        subprocess.run(["git", "-C", str(repo), *args], check=True, env={**os.environ, **(env or {})})
