"""The bundled demo homelab planned once per test session (real engine and GitOps adapter)."""

from __future__ import annotations

import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

DEMO = Path(__file__).resolve().parents[2] / "bot" / "demo"


@lru_cache(maxsize=1)
def demo_result():
    """(pipeline result, policy) for the demo, on a throwaway git copy (the node-pool cooldown reads git log)."""
    from bot.pipeline import run_pipeline
    from bot.policy import load_policy
    from bot.snapshot import load_snapshot

    work = demo_repo()
    return run_pipeline(work, load_snapshot(DEMO / "snapshot.yaml"), None), load_policy(work)


@lru_cache(maxsize=1)
def demo_repo() -> Path:
    """The demo's GitOps repository and policy, committed in a throwaway git repository."""
    import tempfile

    work = Path(tempfile.mkdtemp(prefix="rightsizer-demo-")) / "repo"
    shutil.copytree(DEMO / "repo", work)
    (work / ".github").mkdir(exist_ok=True)
    shutil.copy(DEMO / "policy.yaml", work / ".github" / "rightsizer.yaml")
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "HOME": str(work), "PATH": "/usr/bin:/bin"}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "demo"]):
        subprocess.run(["git", *args], cwd=work, check=True, env=env, capture_output=True)
    return work
