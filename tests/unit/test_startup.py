"""`rightsizer --help` (and building the command line at all) imports nothing heavy: every command pays its
start-up, and the scale benchmark counts it in the "other" column."""

import subprocess
import sys
from pathlib import Path

HEAVY = ("jsonschema", "ruamel", "yaml", "github", "kubernetes", "requests", "bot.engine", "bot.gitops", "bot.report",
         "bot.policy", "bot.snapshot", "bot.pipeline")

CODE = """
import contextlib, io, sys
from bot.cli import main
with contextlib.redirect_stdout(io.StringIO()) as out:
    try:
        main(["--help"])
    except SystemExit:
        pass
assert "usage: rightsizer" in out.getvalue()
heavy = sys.argv[1:]
print(",".join(sorted(m for m in sys.modules if any(m == h or m.startswith(h + ".") for h in heavy))))
"""


def test_help_imports_nothing_heavy():
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", CODE, *HEAVY], capture_output=True, text=True, check=True, cwd=root,
                         env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})
    assert out.stdout.strip() == "", out.stdout
