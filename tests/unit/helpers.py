"""Small builders for engine tests: containers and workloads in a line each."""

from bot.model import Container, Node, Percentiles, Pod, Resources, ResourceSpec, Usage, Workload

MI = 2**20
GI = 2**30
DAY = 86400


def pct(p95, *, p50=None, p90=None, p99=None, max=None):
    """Percentiles where unspecified ones default to p95 (flat usage)."""
    return Percentiles(p50 if p50 is not None else p95, p90 if p90 is not None else p95, p95,
                       p99 if p99 is not None else p95, max if max is not None else p95)


def spec(cpu_req=None, mem_req=None, cpu_lim=None, mem_lim=None):
    return ResourceSpec(Resources(cpu_req, mem_req), Resources(cpu_lim, mem_lim))


def container(name="app", *, resources=None, cpu=None, memory=None, days=30, restarts=0, oom=0, throttled=None, **kw):
    return Container(
        name=name,
        resources=resources or spec(),
        usage=Usage(cpu=cpu, memory=memory),
        coverage_seconds=days * DAY,
        restarts=restarts,
        oom_kills=oom,
        cpu_throttled_ratio=throttled,
        **kw,
    )


def workload(name, containers, nodes=("n1",), *, ns="default", kind="Deployment", **kw):
    return Workload(
        kind=kind, namespace=ns, name=name, replicas=len(nodes),
        containers=tuple(containers), pods=tuple(Pod(f"{name}-{i}", n) for i, n in enumerate(nodes)), **kw,
    )


def node(name, cpu, memory, **kw):
    return Node(name=name, allocatable=Resources(cpu, memory), **kw)
