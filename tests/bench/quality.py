"""Decision quality on usage traces (docs/benchmarks.md).

Each VM is one container. Day 0 is a series' first sample; a week is 7 days. Three protocols:

* one-shot: from the provisioned size, learn on days 7–21, apply once, score days 21–28;
* weekly rolling: from the provisioned size, learn on days 0–14 and score days 14–21, then learn on
  days 7–21 starting from last week's output (step limits and deadbands act, last week's OOM
  episodes come in as OOM kills) and score days 21–28; both weeks are scored;
* steady state: learn on days 7–21, apply the estimator to its own output until it stops changing
  (at most STEADY_RUNS), score days 21–28.

The provisioned start is requests = the VM's cores and memory, a memory limit at its memory and no
CPU limit (how most homelab charts are written), taken at the end of the training window; that size
is also the one denominator of "% of provisioned".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bot.model import Resources, ResourceSpec
from tests.bench.estimators import DAY, Estimator, Learn, all_estimators
from tests.bench.traces import STEP, Series, weights

PROTOCOLS = ("one-shot", "weekly rolling", "steady state")
STEADY_RUNS = 200  # balanced's slowest series settles after 69 runs (a memory limit walking down 5% a run)


@dataclass
class Totals:
    seconds: float = 0.0
    cpu_req: float = 0.0  # core-seconds requested
    mem_req: float = 0.0  # byte-seconds requested
    prov_cpu: float = 0.0  # core-seconds provisioned (size at the end of the training window)
    prov_mem: float = 0.0
    cpu_used: float = 0.0
    cpu_over: float = 0.0  # core-seconds used above the request
    cpu_over_samples: int = 0
    throttled: int = 0
    limited_samples: int = 0
    mem_over_samples: int = 0
    samples: int = 0
    oom_episodes: int = 0
    series: set = field(default_factory=set)
    oom_series: set = field(default_factory=set)
    mem_over_series: set = field(default_factory=set)
    cpu_over_series: set = field(default_factory=set)

    def add(self, o: "Totals") -> None:
        for k, v in o.__dict__.items():
            if isinstance(v, set):
                getattr(self, k).update(v)
            else:
                setattr(self, k, getattr(self, k) + v)

    def row(self) -> dict[str, float]:
        pct = lambda a, b: 100 * a / b if b else 0.0  # noqa: E731
        return {
            "series": len(self.series),
            "cpu_req_pct": pct(self.cpu_req, self.prov_cpu),
            "mem_req_pct": pct(self.mem_req, self.prov_mem),
            "cpu_over_time_pct": pct(self.cpu_over, self.cpu_used),
            "cpu_over_samples_pct": pct(self.cpu_over_samples, self.samples),
            "throttled_pct": pct(self.throttled, self.limited_samples),
            "mem_over_samples_pct": pct(self.mem_over_samples, self.samples),
            "mem_over_series": len(self.mem_over_series),
            "oom_series": len(self.oom_series),
            "oom_episodes": self.oom_episodes,
        }


def provisioned(s: Series, at: int) -> ResourceSpec:
    cores, mem = s.provisioned_at(at)
    return ResourceSpec(Resources(round(cores * 1000), round(mem)), Resources(None, round(mem)))


def evaluate(s: Series, spec: ResourceSpec, start: int, end: int) -> Totals:
    """Score one spec on [start, end): requests against the size provisioned at `start`, risk against usage."""
    sl = s.index(start, end)
    cpu, mem, w = s.cpu[sl], s.mem[sl], weights(s, sl)
    t = Totals()
    if not len(cpu):
        return t
    cores, mem_cap = s.provisioned_at(start)
    req_c, req_m = (spec.requests.cpu or 0) / 1000, spec.requests.memory or 0
    seconds = float(w.sum())
    t.series.add(s.vm)
    t.seconds, t.samples = seconds, len(cpu)
    t.cpu_req, t.mem_req = req_c * seconds, req_m * seconds
    t.prov_cpu, t.prov_mem = cores * seconds, mem_cap * seconds
    t.cpu_used = float((cpu * w).sum())
    t.cpu_over = float((np.maximum(0.0, cpu - req_c) * w).sum())
    t.cpu_over_samples = int((cpu > req_c).sum())
    t.mem_over_samples = int((mem > req_m).sum())
    if t.cpu_over_samples:
        t.cpu_over_series.add(s.vm)
    if t.mem_over_samples:
        t.mem_over_series.add(s.vm)
    if spec.limits.cpu is not None:
        t.limited_samples, t.throttled = len(cpu), int((cpu > spec.limits.cpu / 1000).sum())
    if spec.limits.memory is not None:
        over = mem > spec.limits.memory
        t.oom_episodes = int(over[0]) + int((over[1:] & ~over[:-1]).sum())  # runs of samples above the limit
        if t.oom_episodes:
            t.oom_series.add(s.vm)
    return t


def learn_window(s: Series, start: int, end: int, current: ResourceSpec, oom: int = 0) -> Learn | None:
    sl = s.index(start, end)
    if sl.stop - sl.start < 100:
        return None
    return Learn(s.cpu[sl], s.mem[sl], s.t[sl], float((sl.stop - sl.start) * STEP), current, oom)


def one_shot(s: Series, est: Estimator) -> Totals:
    t0 = int(s.t[0])
    learn = learn_window(s, t0 + 7 * DAY, t0 + 21 * DAY, provisioned(s, t0 + 21 * DAY))
    if learn is None:
        return Totals()
    return evaluate(s, est(learn), t0 + 21 * DAY, t0 + 28 * DAY)


def rolling(s: Series, est: Estimator) -> Totals:
    t0 = int(s.t[0])
    total, current, oom = Totals(), provisioned(s, t0 + 14 * DAY), 0
    for week in (14, 21):
        start = t0 + week * DAY
        learn = learn_window(s, start - 14 * DAY, start, current, oom)
        if learn is None:
            break
        current = est(learn)
        scored = evaluate(s, current, start, start + 7 * DAY)
        total.add(scored)
        oom = scored.oom_episodes
    return total


def steady_spec(est: Estimator, learn: Learn) -> tuple[ResourceSpec, int]:
    """Feed the estimator its own output on the same window until it stops changing: (spec, runs)."""
    current = learn.current
    for run in range(1, STEADY_RUNS + 1):
        learn.current = est(learn)
        if learn.current == current:
            return current, run
        current = learn.current
    return current, STEADY_RUNS


def steady(s: Series, est: Estimator) -> Totals:
    t0 = int(s.t[0])
    learn = learn_window(s, t0 + 7 * DAY, t0 + 21 * DAY, provisioned(s, t0 + 21 * DAY))
    if learn is None:
        return Totals()
    spec, _ = steady_spec(est, learn)
    return evaluate(s, spec, t0 + 21 * DAY, t0 + 28 * DAY)


def scorable(s: Series) -> bool:
    """Enough data for every protocol: 100 samples to learn on in days 0–14 and 7–21, and a test week."""
    t0 = int(s.t[0])
    return all(sl.stop - sl.start >= 100 for sl in (s.index(t0, t0 + 14 * DAY), s.index(t0 + 7 * DAY, t0 + 21 * DAY))) and \
        s.index(t0 + 21 * DAY, t0 + 28 * DAY).stop > s.index(t0 + 21 * DAY, t0 + 28 * DAY).start


RUNNERS = {"one-shot": one_shot, "weekly rolling": rolling, "steady state": steady}


@dataclass
class Result:
    estimator: str
    half: str
    protocol: str
    metrics: dict[str, float] = field(default_factory=dict)


def halves(series: list[Series]) -> dict[str, list[Series]]:
    """First half by id (tuning), second half (held out), and all of them."""
    n = len(series) // 2
    return {"tuning half": series[:n], "held-out half": series[n:], "all": series}


def run(series: list[Series], estimators: list[Estimator] | None = None, groups: dict[str, list[Series]] | None = None) -> list[Result]:
    estimators = estimators or all_estimators()
    groups = groups or halves(series)
    out = []
    for est in estimators:
        per = {p: {s.vm: RUNNERS[p](s, est) for s in series} for p in PROTOCOLS}
        for half, group in groups.items():
            for p in PROTOCOLS:
                total = Totals()
                for s in group:
                    total.add(per[p][s.vm])
                out.append(Result(est.name, half, p, total.row()))
    return out


COLUMNS = [
    ("cpu_req_pct", "CPU req % prov.", "{:.0f}%"), ("mem_req_pct", "mem req % prov.", "{:.0f}%"),
    ("cpu_over_time_pct", "CPU over req (time)", "{:.1f}%"), ("cpu_over_samples_pct", "CPU over req (samples)", "{:.1f}%"),
    ("throttled_pct", "throttled (samples)", "{:.1f}%"), ("mem_over_series", "mem over req (series)", "{:.0f}"),
    ("oom_series", "OOM series", "{:.0f}"), ("oom_episodes", "OOM episodes", "{:.0f}"),
]


def table(results: list[Result]) -> str:
    lines = []
    for half in dict.fromkeys(r.half for r in results):
        for p in PROTOCOLS:
            rows = [r for r in results if r.half == half and r.protocol == p]
            n = int(rows[0].metrics["series"]) if rows else 0
            lines += [f"**{p}, {half} ({n} series)**", "", "| estimator | " + " | ".join(c[1] for c in COLUMNS) + " |",
                      "|---|" + "---|" * len(COLUMNS)]
            lines += [f"| {r.estimator} | " + " | ".join(f.format(r.metrics[k]) for k, _, f in COLUMNS) + " |" for r in rows]
            lines.append("")
    return "\n".join(lines)


def summary(results: list[Result], half: str = "all") -> str:
    """One row per estimator, one column group per protocol: the README table."""
    names = list(dict.fromkeys(r.estimator for r in results))
    head = "| estimator | " + " | ".join(f"{p}: CPU / mem req, CPU over, OOM series" for p in PROTOCOLS) + " |"
    lines = [head, "|---|" + "---|" * len(PROTOCOLS)]
    for name in names:
        cells = []
        for p in PROTOCOLS:
            m = next(r.metrics for r in results if (r.estimator, r.half, r.protocol) == (name, half, p))
            cells.append(f"{m['cpu_req_pct']:.0f}% / {m['mem_req_pct']:.0f}%, {m['cpu_over_time_pct']:.1f}%, {m['oom_series']:.0f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


RISK = ("oom_series", "cpu_over_time_pct")
COST = ("cpu_req_pct", "mem_req_pct")


def _get(results: list[Result], name: str, half: str, p: str) -> dict[str, float]:
    return next(r.metrics for r in results if (r.estimator, r.half, r.protocol) == (name, half, p))


def dominated_by(results: list[Result], ours: str = "balanced") -> list[str]:
    """Anchors that dominate `ours`: no worse on OOM series, CPU time over request and both requests, better on one."""
    out = []
    for half in dict.fromkeys(r.half for r in results):
        for p in PROTOCOLS:
            mine = _get(results, ours, half, p)
            for r in results:
                if r.half != half or r.protocol != p or r.estimator == ours:
                    continue
                m = r.metrics
                if all(m[k] <= mine[k] for k in RISK + COST) and any(m[k] < mine[k] for k in RISK + COST):
                    out.append(f"{r.estimator} ({p}, {half})")
    return out


LABEL = {"oom_series": "OOM series", "cpu_over_time_pct": "CPU over req", "cpu_req_pct": "CPU req", "mem_req_pct": "mem req"}


def losses(results: list[Result], ours: str = "balanced") -> list[str]:
    """Where `ours` does not beat an anchor outright (≤ risk on both axes, < requests on both): the axes it loses on."""
    out = []
    for half in dict.fromkeys(r.half for r in results):
        for p in PROTOCOLS:
            mine = _get(results, ours, half, p)
            lost = []
            for r in results:
                if r.half != half or r.protocol != p or r.estimator == ours:
                    continue
                m = r.metrics
                axes = [k for k in RISK if mine[k] > m[k]] + [k for k in COST if mine[k] >= m[k]]
                if axes:
                    lost.append(f"{r.estimator} on " + ", ".join(f"{LABEL[k]} ({mine[k]:.3g} vs {m[k]:.3g})" for k in axes))
            out.append(f"- {p}, {half}: " + ("; ".join(lost) if lost else "beats every anchor"))
    return out


TARGETS = {"oom_series": 4, "mem_req_pct": 35, "cpu_over_time_pct": 2, "cpu_req_pct": 35}


def targets(results: list[Result], ours: str = "balanced") -> str:
    """How far `ours` is from the issue's four targets, per protocol, on all series."""
    lines = ["| protocol | OOM series (≤ 4/49) | mem req (≤ 35%) | CPU over req, time (≤ 2%) | CPU req (≤ 35%) |", "|---|---|---|---|---|"]
    for p in PROTOCOLS:
        m = _get(results, ours, "all", p)
        mark = lambda k, text: text + (" ✓" if m[k] <= TARGETS[k] else " ✗")  # noqa: E731
        lines.append(f"| {p} | " + " | ".join([
            mark("oom_series", f"{m['oom_series']:.0f}/{m['series']:.0f}"), mark("mem_req_pct", f"{m['mem_req_pct']:.1f}%"),
            mark("cpu_over_time_pct", f"{m['cpu_over_time_pct']:.2f}%"), mark("cpu_req_pct", f"{m['cpu_req_pct']:.1f}%"),
        ]) + " |")
    return "\n".join(lines)


def report(series: list[Series], skipped: list[str], results: list[Result], source: str) -> str:
    dom = dominated_by([r for r in results if r.half != "all"])
    lost = losses(results)
    return "\n".join([
        f"{len(series)} series from {source}; skipped (under 28 days of usable rows): {', '.join(skipped) or 'none'}", "",
        "## All series", "", summary(results), "",
        "## balanced against the targets (all series)", "", targets(results), "",
        "balanced dominated by: " + (", ".join(dom) if dom else "none"),
        "", "Where balanced does not beat an anchor outright (lower requests at no more risk), the axes it loses on:", "",
        *lost, "",
        "## Per protocol and half", "", table(results),
    ])


MARKERS = {"one-shot": "o", "weekly rolling": "s", "steady state": "^"}


def plot(results: list[Result], path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    names = list(dict.fromkeys(r.estimator for r in results))
    colors = {n: f"C{i}" for i, n in enumerate(names)}
    for r in results:
        if r.half != "all":
            continue
        m = r.metrics
        saved = 100 - (m["cpu_req_pct"] + m["mem_req_pct"]) / 2
        # VPA's two variants share their points (they differ in throttling only): draw Guaranteed hollow and larger
        hollow = r.estimator == "vpa-guaranteed"
        ax.scatter(m["oom_series"], saved, s=150 if hollow else 60, marker=MARKERS[r.protocol],
                   facecolors="none" if hollow else colors[r.estimator], edgecolors=colors[r.estimator],
                   label=r.estimator if r.protocol == "steady state" else None)
    total = next(int(r.metrics["series"]) for r in results if r.half == "all")
    ax.set_xlabel(f"OOM series (memory above the limit), of {total}")
    ax.set_ylabel("requests saved vs provisioned (mean of CPU and memory, %)")
    ax.set_title("Savings versus risk (o one-shot, ■ weekly rolling, ▲ steady state; up-left is better)", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
