"""Decision quality on the Bitbrains traces.

Each VM is one container. It starts as provisioned: requests = the VM's cores and memory, a memory
limit at the VM's memory, no CPU limit (how most homelab charts are written). Two protocols:

* holdout: learn on days 0–14, evaluate the recommendation on days 14–21;
* rolling: each week from day 14 on, learn on the 14 days before it and recommend starting from last
  week's recommendation (so step limits and deadbands act); OOM events of a week feed the next
  week's container as OOM kills.

Metrics over the evaluated weeks, summed over VMs:
  requests — CPU cores and memory GiB requested (time-weighted), and as % of the provisioning;
  CPU over request — share of used core-seconds above the request;
  throttled — share of samples above a CPU limit (only where one is set);
  memory over request — share of samples with memory above the request;
  OOM — episodes (runs of consecutive samples) with memory above the limit;
  slack — requested but unused, as a share of requests.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.model import Resources, ResourceSpec
from tests.bench.estimators import Estimator, Learn, all_estimators
from tests.bench.traces import Series, window

DAY = 86400
GIB = 2**30


@dataclass
class Totals:
    cpu_req: float = 0.0  # core-seconds requested
    mem_req: float = 0.0  # byte-seconds requested
    prov_cpu: float = 0.0
    prov_mem: float = 0.0
    cpu_used: float = 0.0
    cpu_over: float = 0.0
    throttled: int = 0
    limited_samples: int = 0
    mem_over: int = 0
    samples: int = 0
    oom: int = 0
    cpu_slack: float = 0.0
    mem_slack: float = 0.0
    seconds: float = 0.0

    def add(self, other: "Totals") -> None:
        for k in self.__dataclass_fields__:
            setattr(self, k, getattr(self, k) + getattr(other, k))

    def row(self) -> dict[str, float]:
        return {
            "cpu_req_cores": self.cpu_req / self.seconds if self.seconds else 0,
            "cpu_req_pct": 100 * self.cpu_req / self.prov_cpu if self.prov_cpu else 0,
            "mem_req_gib": self.mem_req / self.seconds / GIB if self.seconds else 0,
            "mem_req_pct": 100 * self.mem_req / self.prov_mem if self.prov_mem else 0,
            "cpu_over_pct": 100 * self.cpu_over / self.cpu_used if self.cpu_used else 0,
            "throttled_pct": 100 * self.throttled / self.limited_samples if self.limited_samples else 0,
            "mem_over_pct": 100 * self.mem_over / self.samples if self.samples else 0,
            "oom": self.oom,
            "cpu_slack_pct": 100 * self.cpu_slack / self.cpu_req if self.cpu_req else 0,
            "mem_slack_pct": 100 * self.mem_slack / self.mem_req if self.mem_req else 0,
        }


def provisioned(s: Series) -> ResourceSpec:
    cpu, mem = round(s.cores * 1000), round(s.mem_capacity)
    return ResourceSpec(Resources(cpu, mem), Resources(None, mem))


def evaluate(s: Series, spec: ResourceSpec, start: int, end: int) -> Totals:
    cpu, mem, w, _ = window(s, start, end)
    t = Totals()
    req_c = (spec.requests.cpu or 0) / 1000
    req_m = spec.requests.memory or 0
    lim_c = spec.limits.cpu / 1000 if spec.limits.cpu else None
    lim_m = spec.limits.memory
    in_oom = False
    for c, m, dt in zip(cpu, mem, w):
        t.seconds += dt
        t.cpu_req += req_c * dt
        t.mem_req += req_m * dt
        t.prov_cpu += s.cores * dt
        t.prov_mem += s.mem_capacity * dt
        t.cpu_used += c * dt
        t.cpu_over += max(0.0, c - req_c) * dt
        t.cpu_slack += max(0.0, req_c - c) * dt
        t.mem_slack += max(0.0, req_m - m) * dt
        t.samples += 1
        t.mem_over += m > req_m
        if lim_c is not None:
            t.limited_samples += 1
            t.throttled += c > lim_c
        over = lim_m is not None and m > lim_m
        t.oom += over and not in_oom
        in_oom = over
    return t


def _learn(s: Series, start: int, end: int, current: ResourceSpec, oom: int) -> Learn | None:
    cpu, mem, w, ts = window(s, start, end)
    if len(cpu) < 12:
        return None
    return Learn(cpu, mem, ts, float(sum(w)), current, oom)


def holdout(series: list[Series], est: Estimator) -> Totals:
    total = Totals()
    for s in series:
        t0 = s.t[0]
        learn = _learn(s, t0, t0 + 14 * DAY, provisioned(s), 0)
        if learn is None:
            continue
        total.add(evaluate(s, est(learn, 14 * DAY), t0 + 14 * DAY, t0 + 21 * DAY))
    return total


def rolling(series: list[Series], est: Estimator, weeks: int = 2) -> Totals:
    total = Totals()
    for s in series:
        t0 = s.t[0]
        current, oom = provisioned(s), 0
        for k in range(weeks):
            start = t0 + (14 + 7 * k) * DAY
            learn = _learn(s, start - 14 * DAY, start, current, oom)
            if learn is None:
                break
            current = est(learn, 14 * DAY)
            week = evaluate(s, current, start, start + 7 * DAY)
            total.add(week)
            oom = week.oom
    return total


@dataclass
class Result:
    estimator: str
    half: str
    protocol: str
    metrics: dict[str, float] = field(default_factory=dict)


def run(series: list[Series], estimators: list[Estimator] | None = None) -> list[Result]:
    estimators = estimators or all_estimators()
    ordered = sorted(series, key=lambda s: int(s.vm))
    halves = {"first half (tuning)": ordered[: len(ordered) // 2], "second half (held out)": ordered[len(ordered) // 2:]}
    out = []
    for half, group in halves.items():
        for est in estimators:
            out.append(Result(est.name, half, "holdout", holdout(group, est).row()))
            out.append(Result(est.name, half, "rolling", rolling(group, est).row()))
    return out


COLUMNS = [
    ("cpu_req_cores", "CPU req (cores)", "{:.1f}"), ("cpu_req_pct", "% of prov.", "{:.0f}%"),
    ("mem_req_gib", "mem req (GiB)", "{:.1f}"), ("mem_req_pct", "% of prov.", "{:.0f}%"),
    ("cpu_over_pct", "CPU over req", "{:.1f}%"), ("throttled_pct", "throttled", "{:.1f}%"),
    ("mem_over_pct", "mem over req", "{:.1f}%"), ("oom", "OOM", "{:.0f}"),
    ("cpu_slack_pct", "CPU slack", "{:.0f}%"), ("mem_slack_pct", "mem slack", "{:.0f}%"),
]


def table(results: list[Result]) -> str:
    lines = []
    for half in dict.fromkeys(r.half for r in results):
        for protocol in ("holdout", "rolling"):
            lines += [f"**{half}, {protocol}**", "", "| estimator | " + " | ".join(c[1] for c in COLUMNS) + " |",
                      "|---|" + "---|" * len(COLUMNS)]
            for r in results:
                if r.half == half and r.protocol == protocol:
                    lines.append(f"| {r.estimator} | " + " | ".join(f.format(r.metrics[k]) for k, _, f in COLUMNS) + " |")
            lines.append("")
    return "\n".join(lines)


def dominated_by(results: list[Result], ours: str = "balanced") -> list[str]:
    """Anchors that dominate `ours` (no more risk on every axis and fewer requests on both, with one strict)."""
    out = []
    for half in dict.fromkeys(r.half for r in results):
        for protocol in ("holdout", "rolling"):
            mine = next(r.metrics for r in results if (r.estimator, r.half, r.protocol) == (ours, half, protocol))
            for r in results:
                if r.half != half or r.protocol != protocol or r.estimator in (ours, "resource-advisor"):
                    continue
                m = r.metrics
                no_worse = (m["oom"] <= mine["oom"] and m["cpu_over_pct"] <= mine["cpu_over_pct"]
                            and m["cpu_req_cores"] <= mine["cpu_req_cores"] and m["mem_req_gib"] <= mine["mem_req_gib"])
                strictly = (m["oom"] < mine["oom"] or m["cpu_over_pct"] < mine["cpu_over_pct"]
                            or m["cpu_req_cores"] < mine["cpu_req_cores"] or m["mem_req_gib"] < mine["mem_req_gib"])
                if no_worse and strictly:
                    out.append(f"{r.estimator} ({half}, {protocol})")
    return out


def plot(results: list[Result], path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for r in results:
        if r.protocol != "rolling" or not r.half.startswith("second"):
            continue
        savings = 100 - (r.metrics["cpu_req_pct"] + r.metrics["mem_req_pct"]) / 2
        ax.scatter(r.metrics["oom"], savings, s=60)
        ax.annotate(r.estimator, (r.metrics["oom"], savings), textcoords="offset points", xytext=(6, 4))
    ax.set_xlabel("OOM episodes (memory above limit), held-out half, rolling weeks")
    ax.set_ylabel("requests saved vs provisioning (mean of CPU and memory, %)")
    ax.set_title("Savings versus risk on Bitbrains GWA-T-12 (higher and further left is better)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
