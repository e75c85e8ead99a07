"""The snapshot format: loading, validation errors with lines, and a lossless round trip."""

import json
import textwrap

import pytest

from bot.errors import InputError
from bot.snapshot import load_snapshot, snapshot_from_dict, snapshot_to_dict

GOOD = """
version: 1
collectedAt: "2026-11-22T06:00:00Z"
window: 14d
nodes:
  - name: m720q
    allocatable: {cpu: "5800m", memory: 31Gi}
    labels: {kubernetes.io/arch: amd64}
  - name: rpi4
    allocatable: {cpu: "3.8", memory: 7Gi}
    taints: [{key: arch, value: arm64, effect: NoSchedule}]
workloads:
  - kind: Deployment
    namespace: media
    name: sonarr
    replicas: 1
    helmRelease: {name: sonarr, namespace: media}
    hpa: {name: sonarr, minReplicas: 1, maxReplicas: 3, metrics: [{type: Resource, resource: cpu, targetType: Utilization, target: 70}]}
    pods: [{name: sonarr-abc, node: m720q}]
    containers:
      - name: app
        requests: {cpu: 100m, memory: 512Mi}
        limits: {memory: 1Gi}
        usage:
          cpu: {p50: 0.01, p90: 0.05, p95: 0.08, p99: 0.2, max: 0.4}
          memory: {p50: 150000000, p90: 170000000, p95: 180000000, p99: 190000000, max: 200000000}
        coverageSeconds: 1209600
        restarts: 0
        oomKills: 0
        cpuThrottledRatio: null
"""


def test_load_good(tmp_path):
    f = tmp_path / "snap.yaml"
    f.write_text(GOOD)
    s = load_snapshot(f)
    assert s.window_seconds == 14 * 86400
    assert s.nodes[1].allocatable.cpu == 3800 and s.nodes[0].allocatable.memory == 31 * 2**30
    (w,) = s.workloads
    assert w.helm_release.name == "sonarr" and w.hpa.utilization_resources == ("cpu",)
    c = w.containers[0]
    assert c.resources.requests.memory == 512 * 2**20 and c.resources.limits.cpu is None
    assert c.usage.cpu.p95 == 0.08 and c.coverage_seconds == 1209600


def test_round_trip_is_lossless(tmp_path):
    f = tmp_path / "snap.yaml"
    f.write_text(GOOD)
    s = load_snapshot(f)
    again = snapshot_from_dict(json.loads(json.dumps(snapshot_to_dict(s))))
    assert again == s


@pytest.mark.parametrize(
    "edit, field",
    [
        (("      - name: app\n", "      - nme: app\n"), "workloads[0].containers[0]"),
        (("    allocatable: {cpu: \"5800m\", memory: 31Gi}", "    allocatable: {cpu: \"lots\", memory: 31Gi}"), "nodes[0].allocatable.cpu"),
        (("window: 14d", "window: two weeks"), "window"),
        (("          cpu: {p50: 0.01,", "          cpu: {p50: -1,"), "workloads[0].containers[0].usage.cpu.p50"),
    ],
)
def test_errors_name_line_and_field(tmp_path, edit, field):
    text = GOOD.replace(*edit)
    # The expected line is found by plain text search, independently of the YAML parser's marks.
    line = next(i for i, t in enumerate(text.splitlines(), 1) if t.startswith(edit[1].rstrip("\n")))
    f = tmp_path / "snap.yaml"
    f.write_text(text)
    with pytest.raises(InputError) as exc:
        load_snapshot(f)
    assert exc.value.line == line, str(exc.value)
    assert exc.value.field == field, str(exc.value)
    assert exc.value.file == str(f)


def test_duplicate_node_names(tmp_path):
    f = tmp_path / "snap.yaml"
    text = GOOD.replace("name: rpi4", "name: m720q")
    f.write_text(text)
    with pytest.raises(InputError, match="two nodes share a name") as exc:
        load_snapshot(f)
    # Both entries are named, each with its line (found by text search).
    first, second = [i for i, t in enumerate(text.splitlines(), 1) if t == "  - name: m720q"]
    assert (exc.value.line, exc.value.field) == (second, "nodes[1]")
    assert f"at nodes[0] (line {first}) and at nodes[1] (line {second})" in exc.value.message


def test_json_snapshots_load_too(tmp_path):
    f = tmp_path / "snap.json"
    from ruamel.yaml import YAML
    import io
    data = YAML(typ="safe").load(io.StringIO(textwrap.dedent(GOOD)))
    f.write_text(json.dumps(data))
    assert load_snapshot(f).workloads[0].name == "sonarr"
