"""python -m tests.bench quality [--traces DIR] | tune | scale | queries | queries-long [N [DAYS [prometheus|prometheus-rule|victoria-metrics|both]]]   — the benchmarks behind docs/benchmarks.md.

quality --traces DIR: any directory of traces in the Bitbrains GWA-T-12 format (../shared/traces/README.md);
the default is the shared August traces. Results go to tests/bench/results/ only for the default traces."""

from __future__ import annotations

import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def _quality(args: list[str]) -> int:
    from tests.bench import quality
    from tests.bench.traces import TRACES, TraceError, load_all

    folder, default = TRACES, True
    if args[:1] == ["--traces"] and len(args) == 2:
        folder, default = Path(args[1]), False
    elif args:
        print("usage: python -m tests.bench quality [--traces DIR]", file=sys.stderr)
        return 2
    if not folder.is_dir():
        print(f"tests.bench: error: --traces {folder}: not a directory", file=sys.stderr)
        return 2
    try:
        series, skipped = load_all(folder)
    except TraceError as e:
        print(f"tests.bench: error: {e}", file=sys.stderr)
        return 2
    skipped += [s.vm for s in series if not quality.scorable(s)]
    series = [s for s in series if quality.scorable(s)]
    if len(series) < 2:
        print(f"tests.bench: error: --traces {folder}: fewer than 2 usable traces (*.csv in the GWA-T-12 format, 28 days each)", file=sys.stderr)
        return 2
    results = quality.run(series)
    text = quality.report(series, skipped, results, str(folder))
    print(text)
    if default:
        (RESULTS / "quality.md").write_text(text + "\n")
        try:
            quality.plot(results, RESULTS / "quality.png")
        except ImportError:
            print("(matplotlib not installed: pip install .[bench] for the plot)")
    return 0


def main(argv: list[str]) -> int:
    what = argv[0] if argv else "quality"
    RESULTS.mkdir(exist_ok=True)
    if what == "quality":
        return _quality(argv[1:])
    if what == "tune":
        from tests.bench import quality, tune
        from tests.bench.traces import load_all

        series = [s for s in load_all()[0] if quality.scorable(s)]
        text = tune.main(series)
        (RESULTS / "tune.md").write_text(text)
        print(text)
        return 0
    if what == "scale":
        from tests.bench import scale

        text = scale.main(argv[1:])
        (RESULTS / "scale.md").write_text(text)
        print(text)
        return 0
    if what == "queries":
        from tests.bench import queries

        # 100 and 1,000 containers with a day of history each, 1,000 with 14 days, 10,000 with 2 hours (promtool
        # builds no more in minutes), in one table; each lever alone; 20,000 containers at the sample limit.
        # Each part printed as it ends: the whole run takes a while on a small machine.
        parts: list[str] = []
        for part in (lambda: queries.main() + "\n", lambda: queries.levers() + "\n", queries.limits):
            parts.append(part())
            print(parts[-1], end="", flush=True)
        (RESULTS / "queries.md").write_text("".join(parts))
        return 0
    if what == "queries-long":
        from tests.bench import queries_long

        args = [int(a) if a.isdigit() else a for a in argv[1:4]]
        print("| containers × history | ours | per container | floor (raw pass) | per container / ours | ours / floor |\n"
              "|---|---|---|---|---|---|\n" + queries_long.main(*args), end="")
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
