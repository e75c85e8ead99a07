"""How balanced's constants were chosen: the preset and its one-change-away neighbours, on the tuning half only.

    python -m tests.bench tune

Each row changes one choice of policies/presets/balanced.yaml back to what it was before the retune (or to
the plain alternative) and prints requests and risk per protocol on the first half of the traces by id.
"""

from __future__ import annotations

from tests.bench import quality
from tests.bench.estimators import Preset
from tests.bench.traces import Series

NEIGHBOURS = {
    "balanced (as shipped)": {},
    "CPU deadband 10% (was)": {"cpu": {"deadband": {"percent": 10, "absolute": "10m"}}},
    "CPU without the burst rule": {"cpu": {"burst": {"threshold": 1.5, "headroom": 0.0}}},
    "CPU p95 × 1.15, burst ×1.1 at 3× (was)": {"cpu": {"margin": 0.15, "burst": {"threshold": 3.0, "headroom": 0.10}}},
    "CPU may fall 90% a run (was)": {"cpu": {"maxDecreasePercent": 90}},
    "memory p99 (was)": {"memory": {"percentile": "p99"}},
    "memory may fall 75% a run (was)": {"memory": {"maxDecreasePercent": 75}},
    "memory limit −10% a run (was)": {"memory": {"limit": {"maxDecreasePercent": 10}}},
}


def main(series: list[Series]) -> str:
    tuning = quality.halves(series)["tuning half"]
    lines = [f"tuning half: {len(tuning)} series (first half by id)", "",
             "| variant | " + " | ".join(f"{p}: CPU / mem req, CPU over, OOM series" for p in quality.PROTOCOLS) + " |",
             "|---|" + "---|" * len(quality.PROTOCOLS)]
    for label, tweak in NEIGHBOURS.items():
        res = quality.run(tuning, [Preset("balanced", tweak, label)], {"tuning half": tuning})
        cells = [f"{m['cpu_req_pct']:.1f}% / {m['mem_req_pct']:.1f}%, {m['cpu_over_time_pct']:.2f}%, {m['oom_series']:.0f}"
                 for m in (r.metrics for r in res)]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
