"""Issue 12: a `resources:` block added to a container whose last value spans lines lands after that value,
never inside it — on real corpus files, one per shape.

Each case names the line (1-based) where the container's content ends, read from the file by hand; the four
new lines must follow it exactly, in the container's key indentation (12 spaces in all four files), and every
other line must stay as it was.
"""

from __future__ import annotations

import pytest

from bot.gitops.apply import patch_text, verify
from bot.gitops.mapping import Target
from bot.model import ContainerChange, Resources, ResourceSpec
from tests.gitops.corpus import corpus_or_skip

CASES = [
    # a `- |` block scalar as the last item of `args` (mosquitto_passwd … on line 43)
    ("gavinmcfall__home-ops", "kubernetes/apps/database/mosquitto/app/helmrelease.yaml",
     ("spec", "values", "controllers", "mosquitto", "initContainers", "init-config"), 43),
    # a single-quoted scalar folded over two lines (`YTDL_OPTIONS: '{…` ends on line 38)
    ("joryirving__home-ops", "kubernetes/apps/base/downloads/metube/helmrelease.yaml",
     ("spec", "values", "controllers", "metube", "containers", "app"), 38),
    # a `- |` block scalar whose text holds `#` lines at a deeper indent (ends on line 59, `ls -ld …`)
    ("gavinmcfall__home-ops", "kubernetes/apps/downloads/suwayomi/app/helmrelease.yaml",
     ("spec", "values", "controllers", "suwayomi", "initContainers", "01-init-config"), 59),
    # an anchored sequence (`envFrom: &envFrom`) as the last value (ends on line 37)
    ("gavinmcfall__home-ops", "kubernetes/apps/downloads/autobrr/app/helmrelease.yaml",
     ("spec", "values", "controllers", "autobrr", "initContainers", "init-db"), 37),
]
NEW = ["            resources:", "              requests:", "                cpu: 10m", "                memory: 64Mi"]


@pytest.mark.parametrize("repo,file,container,last", CASES, ids=[c[0].split("__")[0] + ":" + c[2][-1] for c in CASES])
def test_new_block_after_a_multi_line_last_value(repo, file, container, last):
    before = (corpus_or_skip() / repo / file).read_text()
    target = Target(file, 0, container + ("resources",), "test")
    change = ContainerChange("ns", "Deployment", "w", "c", ResourceSpec(), ResourceSpec(Resources(10, 64 * 2**20)))
    after = patch_text(before, [(change, target)])
    assert verify(after, [(change, target)], before) is None
    a, b = before.splitlines(), after.splitlines()
    assert b == a[:last] + NEW + a[last:]


def test_new_block_after_a_multi_line_flow_sequence():
    """No corpus container ends with a flow sequence over several lines, so the mosquitto file is given one:
    its `args` block scalar becomes `args: ["…",\\n  "…"]` (`args:` was line 39, so the closing bracket is on line 40)."""
    real = (corpus_or_skip() / CASES[0][0] / CASES[0][1]).read_text()
    old = real.splitlines(keepends=True)
    start = old.index("            args:\n")
    flow = ['            args: ["cp /tmp/secret/mosquitto_pwd /mosquitto/external_config/;",\n',
            '                   "chmod 600 /mosquitto/external_config/mosquitto_pwd;"]\n']
    before = "".join(old[:start] + flow + old[start + 5:])
    target = Target(CASES[0][1], 0, CASES[0][2] + ("resources",), "test")
    change = ContainerChange("ns", "Deployment", "w", "c", ResourceSpec(), ResourceSpec(Resources(10, 64 * 2**20)))
    after = patch_text(before, [(change, target)])
    assert verify(after, [(change, target)], before) is None
    a, b = before.splitlines(), after.splitlines()
    assert start + 2 == 40 and b == a[:40] + NEW + a[40:]
