"""Where the shared corpus of real GitOps files lives (../shared/corpus next to the checkout)."""

from pathlib import Path

import pytest

# ../shared/corpus next to the checkout; a worktree (/work/wt/N) is one level deeper, so look up the tree.
CORPUS = next((p / "shared" / "corpus" for p in Path(__file__).resolve().parents[3:]
               if (p / "shared" / "corpus" / "files.tsv").is_file()),
              Path(__file__).resolve().parents[3] / "shared" / "corpus")


def corpus_or_skip() -> Path:
    if not (CORPUS / "files.tsv").is_file():
        pytest.skip(f"the shared corpus is not here ({CORPUS}): these tests read real GitOps repos from ../shared/corpus")
    return CORPUS


def corpus_repos() -> list[str]:
    if not CORPUS.is_dir():
        return []
    return sorted(p.name for p in CORPUS.iterdir() if p.is_dir())
