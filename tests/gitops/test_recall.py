"""Issue 12: the adapter never writes to another container's block, and finds ≥ 90 % of what real repos size.

The hand-written lists live in tests/gitops/recall/ (see tests/gitops/recall.py for how they are read and
measured); the corpus-wide checks below need no list: they ask for containers the repos cannot size.
"""

from __future__ import annotations

import pytest

from bot.gitops import discover, map_changes
from bot.gitops.charts import chart_components
from bot.gitops.mapping import _is_app_template
from bot.gitops.yamldoc import get_path
from bot.model import ContainerChange, HelmReleaseRef, Resources, ResourceSpec
from tests.gitops.corpus import corpus_or_skip, corpus_repos
from tests.gitops.recall import lists, measure

WANT = ResourceSpec(Resources(123, 45 * 2**20))


@pytest.mark.parametrize("name", lists())
def test_recall_and_no_wrong_block(name):
    corpus_or_skip()
    out = measure(name)
    assert out.wrong == [], out.wrong
    # Done-when: recall ≥ 90 % of the containers whose resources are set in Git (Jobs/CronJobs apart)
    assert out.recall >= 0.9, out.missed
    assert out.shared_refused == out.shared_total
    assert out.total >= 30  # a list that lost its rows would pass the ratio trivially


def _change(hr, workload: str, container: str, init: bool = False) -> ContainerChange:
    return ContainerChange(hr.namespace or "ns", "Deployment", workload, container, ResourceSpec(), WANT, init,
                           HelmReleaseRef(hr.name, hr.namespace or "ns"))


@pytest.fixture(scope="module", params=corpus_repos() or ["(no corpus)"])
def inventory(request):
    root = corpus_or_skip()
    return discover(root / request.param)


def test_a_chart_outside_the_table_is_never_patched_and_says_what_to_add(inventory):
    """Every HelmRelease of every corpus repo whose chart is neither in the table nor app-template: its main
    container (named like the release, as Helm's scaffold names it) maps nothing, and the reason is the snippet."""
    for hr in inventory.helmreleases:
        if chart_components(hr.chart) is not None or _is_app_template(inventory, hr):
            continue
        result = map_changes(inventory, [_change(hr, hr.release_name, hr.release_name)])
        assert not result.mapped, (hr.ref, hr.chart, result.mapped)
        reason = result.unmapped[0][1]
        if "has no values in Git" not in reason and "found twice" not in reason:  # (repos with one HR per cluster)
            assert f"gitops: {{charts: [{{chart: {hr.chart or '?'}, workload: {hr.release_name}" in reason, reason


def test_a_container_no_chart_renders_gets_no_block(inventory):
    """A sidecar beside any release's main workload, and a workload no component of its chart renders, are
    never mapped to a block that is already in Git (that block is another container's)."""
    for hr in inventory.helmreleases:
        for workload, container in ((hr.release_name, "zz-extra-sidecar"), (f"{hr.release_name}-zz-extra", "zz-extra")):
            for init in (False, True):
                result = map_changes(inventory, [_change(hr, workload, container, init)])
                for change, target in result.mapped:
                    assert get_path(inventory.doc(target.file, target.doc), target.block) is None, (hr.ref, workload, container, target)


def test_an_app_template_container_renamed_by_name_override():
    """bjw-s-labs qbittorrent: `containers.app.nameOverride: qbittorrent` runs as container `qbittorrent`."""
    root = corpus_or_skip()
    inv = discover(root / "bjw-s-labs__home-ops", lazy=True)
    hr = HelmReleaseRef("qbittorrent", "downloads")
    change = ContainerChange("downloads", "Deployment", "qbittorrent", "qbittorrent", ResourceSpec(), WANT, False, hr)
    [(_, target)] = map_changes(inv, [change]).mapped
    assert target.file == "kubernetes/apps/downloads/qbittorrent/app/helmrelease.yaml"
    assert target.block == ("spec", "values", "controllers", "qbittorrent", "containers", "app", "resources")


def test_docs_list_every_chart_of_the_table():
    """docs/gitops.md shows the chart table; a chart added to bot/gitops/charts.py must appear there."""
    from pathlib import Path

    from bot.gitops.charts import CHARTS

    docs = (Path(__file__).resolve().parents[2] / "docs" / "gitops.md").read_text()
    rows = {line.split("|")[1].strip().split(" ")[0] for line in docs.splitlines() if line.startswith("| ") and "→" in line}
    assert set(CHARTS) <= rows, set(CHARTS) - rows
