"""Issue 12: a file the patch refuses (its read-back fails) never shows up in the PR as selected.

The demo homelab in a real git repository, with esphome's container given a flow mapping whose closing
brace sits on the next line: adding `requests` to it is refused ("flow mapping spans lines"), so esphome's
change must be taken out and the plan made again, the PR saying in one line what was refused and why.
"""

from __future__ import annotations

import json

from bot.pipeline import run_pipeline
from bot.snapshot import load_snapshot
from tests.gitops.test_demo_repo import DEMO, git, repo  # noqa: F401  (the fixture)

ESPHOME = "kubernetes/apps/home/esphome/app/helmrelease.yaml"


def _break_esphome(r) -> bytes:
    path = r / ESPHOME
    text = path.read_text()
    anchor = "            env:\n              TZ: Europe/Amsterdam\n"
    assert anchor in text
    path.write_text(text.replace(anchor, anchor + "            resources: {limits: {memory: 512Mi}\n              }\n"))
    git(r, "commit", "-qam", "esphome: a flow mapping over two lines")
    return path.read_bytes()


def test_a_refused_file_is_taken_out_and_the_pr_says_why(repo):  # noqa: F811
    before = _break_esphome(repo)
    snap = load_snapshot(DEMO / "snapshot.yaml")
    # Without the break, the demo selects home/esphome/app (requests added); see test_demo_repo.
    result = run_pipeline(repo, snap, None, write=True)
    selected = [d.key for d in result.plan.selected]
    assert "home/esphome/app" not in selected and selected
    draft = next(d for d in result.drafts if d.scope == "resources")
    assert ESPHOME not in draft.files and (repo / ESPHOME).read_bytes() == before
    assert ESPHOME not in git(repo, "diff", "--name-only").split()
    # The PR body: esphome appears once, in the one "could not patch" line, never in the changes table.
    body = draft.body
    assert "### Could not patch" in body
    lines = [l for l in body.splitlines() if "esphome" in l]
    assert len(lines) == 1 and ESPHOME in lines[0] and "flow mapping spans lines" in lines[0], lines
    assert "home/esphome/app" in lines[0] and "taken out of this PR" in lines[0]
    # report.json agrees: esphome is refused (with the file and reason), skipped in the decisions, not in unmapped.
    report = json.loads(json.dumps(result.report, default=list))  # as write_report encodes it (lazy decisions)
    assert report["refused"] == [{"ref": "home/esphome/app", "reason": f"{ESPHOME}: flow mapping spans lines"}]
    assert all(u["ref"] != "home/esphome/app" for u in report["unmapped"])
    decision = next(d for d in report["decisions"] if d["ref"] == "home/esphome/app")
    assert decision["status"] == "skipped" and decision["reason"].startswith("could not patch " + ESPHOME)
    # nothing left refused when the PR is written: every selected change is in the commit
    assert not [w for w in result.warnings if "refused" in w]
