"""The demo's snapshot is physically possible: what a cgroup allows is all a container can show."""

from pathlib import Path

from bot.snapshot import load_snapshot

DEMO = Path(__file__).resolve().parents[2] / "bot" / "demo" / "snapshot.yaml"


def test_usage_never_exceeds_what_the_limits_allow():
    for w in load_snapshot(DEMO).workloads:
        for c in w.containers:
            cpu_limit, mem_limit = c.resources.limits.cpu, c.resources.limits.memory
            if cpu_limit is not None and c.usage.cpu:
                # A container is throttled at its CPU limit: no percentile, not even the max, is above it.
                assert c.usage.cpu.max * 1000 <= cpu_limit, (w.ref, c.name)
            if mem_limit is not None and c.usage.memory:
                # The working set reaches the memory limit only by being OOM-killed there.
                assert c.usage.memory.max < mem_limit or (c.oom_kills and c.usage.memory.max == mem_limit), (w.ref, c.name)
            for p in (c.usage.cpu, c.usage.memory):
                if p:
                    assert p.p50 <= p.p90 <= p.p95 <= p.p99 <= p.max, (w.ref, c.name)
