"""Issue 3 over every real file in ../shared/corpus: nothing crashes, a no-op is byte-identical,
and every discovered sizing block can be patched touching only its own lines."""

from __future__ import annotations

import pytest

from bot.gitops import apply, discover
from bot.gitops.apply import changed_lines, patch_text, verify
from bot.gitops.mapping import MappingResult, all_targets
from bot.gitops.patch import read_spec
from bot.gitops.yamldoc import end_line, get_path, parse_documents
from bot.model import ContainerChange, Resources, ResourceSpec
from tests.gitops.corpus import corpus_or_skip, corpus_repos

# Sizing blocks discovery finds per repository today. A drop means discovery regressed; a rise
# means it learned something: check the new targets, then raise the number here. Only charts in the
# chart table (bot/gitops/charts.py) or app-template count: any other chart's root `resources` is not a target.
EXPECTED_TARGETS = {
    "JeffResc__proxmox-talos-terraform": 0,
    "Naman1997__simple-talos-cluster": 0,
    "billimek__k8s-gitops": 60,  # + external-dns provider.webhook, vmsingle/vmagent CR specs, rook-ceph-cluster mgr/mon/osd/rgw (chart table)
    "bjw-s-labs__home-ops": 50,  # - 3 root blocks of charts not in the table (externaldns-*, node-exporter OCI refs); + 3 kube-prometheus-stack
    "buroa__k8s-gitops": 33,  # 35 blocks; 2 are one block shared through a YAML anchor (never edited)
    "gavinmcfall__home-ops": 155,  # 166 blocks; 11 are shared through YAML anchors
    "joryirving__home-ops": 120,  # - 6 root blocks of charts not in the table (minecraft*, drm-exporter-amd); + kps, authentik, rook-ceph-cluster
    "lisenet__kubernetes-homelab": 34,
    "onedr0p__home-ops": 38,
    "ricsanfre__pi-cluster": 11,
    "toboshii__home-ops": 36,  # - hajimari (not in the table); + goldilocks controller/dashboard, rook-ceph-cluster daemons
    "wrmilling__k3s-gitops": 49,  # - metallb frr-k8s.* (the chart reads them under frr-k8s.frrk8s); + metallb, victoria-metrics, mastodon, grafana sidecar, authelia, emqx, botkube
    "xunholy__k8s-gitops": 43,
}
# Files the YAML parser rejects, as published (a genuine undefined alias; a Helm-templated boilerplate).
EXPECTED_UNPARSEABLE = {"gavinmcfall__home-ops": 1, "ricsanfre__pi-cluster": 1}


@pytest.fixture(scope="module", params=corpus_repos() or ["(no corpus)"])
def inventory(request):
    root = corpus_or_skip()
    return request.param, discover(root / request.param)


def test_discovery_counts(inventory):
    name, inv = inventory
    assert len(all_targets(inv)) == EXPECTED_TARGETS[name]
    assert len(inv.skipped) == EXPECTED_UNPARSEABLE.get(name, 0), inv.skipped


def _spec(root, block) -> ResourceSpec:
    got = read_spec(root, block)
    return ResourceSpec(Resources(got[("requests", "cpu")], got[("requests", "memory")]),
                        Resources(got[("limits", "cpu")], got[("limits", "memory")]))


def _bumped(spec: ResourceSpec) -> ResourceSpec:
    """New values for every field: set ones grow by a prime amount (no accidental equality), missing requests appear."""
    req, lim = spec.requests, spec.limits
    return ResourceSpec(
        Resources((req.cpu or 0) * 2 + 7, (req.memory or 0) * 2 + 3 * 2**20),
        Resources(None if lim.cpu is None else lim.cpu * 2 + 11, None if lim.memory is None else lim.memory * 2 + 5 * 2**20),
    )


def test_no_op_is_byte_identical(inventory):
    name, inv = inventory
    for label, target in all_targets(inv):
        yf = inv.files[target.file]
        current = _spec(yf.docs[target.doc], target.block)
        change = ContainerChange("ns", "Deployment", "w", "c", current, current)
        assert patch_text(yf.text, [(change, target)]) == yf.text, label
    for rel, yf in inv.files.items():
        assert (inv.root / rel).read_bytes() == yf.text.encode("utf-8")


def test_every_target_patches_only_its_block(inventory):
    name, inv = inventory
    targets = all_targets(inv)
    for label, target in targets:
        yf = inv.files[target.file]
        current = _spec(yf.docs[target.doc], target.block)
        if any(v is not None and v < 0 for v in (current.requests.cpu, current.requests.memory)):
            continue
        change = ContainerChange("ns", "Deployment", "w", "c", current, _bumped(current))
        after = patch_text(yf.text, [(change, target)])
        assert verify(after, [(change, target)]) is None, label
        # Every changed or added line lies inside the resources block, as the new file parses.
        doc = parse_documents(after)[target.doc]
        block = get_path(doc, target.block)
        key_line = get_path(doc, target.block[:-1]).lc.key(target.block[-1])[0] + 1
        last = end_line(block) + 1
        lines = changed_lines(yf.text, after)
        assert lines, label
        assert all(key_line <= n <= last for n in lines), (label, lines, key_line, last)
        # and nothing else moved: removing the changed lines from both sides leaves the same text
        before_lines, after_lines = yf.text.splitlines(), after.splitlines()
        assert len(after_lines) - len(before_lines) <= 4, label


def test_apply_through_the_public_api_on_one_repo(tmp_path):
    root = corpus_or_skip()
    inv = discover(root / "onedr0p__home-ops")
    label, target = all_targets(inv)[0]
    yf = inv.files[target.file]
    current = _spec(yf.docs[target.doc], target.block)
    change = ContainerChange("ns", "Deployment", "w", "c", current, _bumped(current))
    result = apply(inv.root, MappingResult(mapped=[(change, target)]), write=False)
    assert not result.refused and len(result.edits) == 1
    assert result.edits[0].before == yf.text.encode()
