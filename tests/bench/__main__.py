"""python -m tests.bench quality | scale | queries   — the benchmarks behind docs/benchmarks.md."""

from __future__ import annotations

import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str]) -> int:
    what = argv[0] if argv else "quality"
    RESULTS.mkdir(exist_ok=True)
    if what == "quality":
        from tests.bench import quality
        from tests.bench.traces import load_all

        series, skipped = load_all()
        results = quality.run(series)
        text = f"{len(series)} series; skipped (no usable rows): {', '.join(skipped) or 'none'}\n\n" + quality.table(results)
        dom = quality.dominated_by(results)
        text += "\nbalanced dominated by: " + (", ".join(dom) if dom else "none") + "\n"
        (RESULTS / "quality.md").write_text(text)
        print(text)
        try:
            quality.plot(results, RESULTS / "quality.png")
        except ImportError:
            print("(matplotlib not installed: pip install .[bench] for the plot)")
        return 0
    if what == "scale":
        from tests.bench import scale

        text = scale.main(argv[1:])
        (RESULTS / "scale.md").write_text(text)
        print(text)
        return 0
    if what == "queries":
        from tests.bench import queries

        # 100 / 1,000 / 10,000 containers with 2 h each, then 1,000 with a day each (where reading samples,
        # not per-query overheads, is the cost); each lever alone; 20,000 containers at the sample limit.
        # Each part printed as it ends: the whole run takes a while on a small machine.
        parts: list[str] = []
        for part in (queries.main, lambda: queries.main(sizes=(1000,), hours=24, header=False) + "\n",
                     lambda: queries.levers() + "\n", queries.limits):
            parts.append(part())
            print(parts[-1], end="", flush=True)
        (RESULTS / "queries.md").write_text("".join(parts))
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
