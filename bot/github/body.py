"""The PR description: the pipeline's markdown, the node-fit charts, a footer, the state marker.

GitHub rejects bodies over 65,536 characters; we stay under ``MAX_BODY`` (60,000) by
dropping ``<details>`` sections first (largest first), then cutting at a line boundary,
and in both cases pointing at the run's step summary, which carries the full report.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from bot.github import state as prstate
from bot.report.chart import CHART_TITLE, node_charts

MAX_BODY = 60_000
_DETAILS = re.compile(r"<details>.*?</details>", re.S)

COMMANDS_HELP = """\
Comment on this PR (first line only; needs write access):

| Command | Effect |
|---|---|
| `/rightsize help` | this list |
| `/rightsize recompute` | measure again and update this PR now |
| `/rightsize rebase` | rebuild the branch from the base branch, discarding commits pushed by others |
| `/rightsize skip <ns/workload[/container]>` | leave a workload (or one container) alone from now on |
| `/rightsize pin <ns/workload/container> cpu=… memory=…` | fix the requests of one container |
| `/rightsize explain <ns/workload[/container]>` | show the full reasoning for one workload |

Skips and pins are kept in a hidden note at the end of this description (visible with *Edit*); \
delete an entry there to undo it. They take effect on the next run or `/rightsize recompute`."""


def _trim_note(run_url: str | None) -> str:
    where = f"[the step summary of the run]({run_url})" if run_url else "the step summary of the run"
    return f"_Some details were trimmed to fit GitHub's size limit; the full report is in {where}._"


def compose(
    body: str,
    report: Mapping[str, Any] | None,
    state: prstate.PrState,
    run_url: str | None = None,
    limit: int = MAX_BODY,
) -> str:
    marker = prstate.render(state)
    if len(marker) > limit // 4:
        # The summary lines only feed the next rationale diff; never let them crowd out the body.
        from dataclasses import replace
        marker = prstate.render(replace(state, summary_lines=()))
    # The report renderer may already draw the node chart; never draw it twice.
    charts = "" if CHART_TITLE in body else node_charts(report or {})
    fit = f"\n\n### {CHART_TITLE}\n\n{charts}" if charts else ""
    footer = (
        "\n\n---\n<details><summary>Commands</summary>\n\n" + COMMANDS_HELP + "\n\n</details>"
        + (f"\n\n[Full report: run summary]({run_url})" if run_url else "")
    )
    main = body.rstrip() + fit

    def assemble(text: str) -> str:
        return f"{text}{footer}\n\n{marker}\n"

    out = assemble(main)
    if len(out) <= limit:
        return out
    note = "\n\n" + _trim_note(run_url)
    # 1. Drop <details> blocks of the pipeline's body, largest first.
    blocks = sorted(_DETAILS.finditer(main), key=lambda m: len(m.group(0)), reverse=True)
    for m in blocks:
        main = main.replace(m.group(0), "_(details trimmed)_", 1)
        out = assemble(main + note)
        if len(out) <= limit:
            return out
    # 2. Cut at a line boundary; an unclosed code fence would swallow the footer, so close it.
    room = limit - len(assemble(note + "\n```\n"))
    cut = main[: max(room, 0)]
    cut = cut[: cut.rfind("\n")] if "\n" in cut else cut
    if cut.count("```") % 2:
        cut += "\n```"
    return assemble(cut + note)
