"""`rightsizer plan`: snapshot + repo + policy → report.json, pr.md, changes.diff (and, with --write, patched files)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot import timing
from bot.commands.argtypes import non_negative_int
from bot.errors import InputError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plan", help="compute recommendations, node fit and the PR text", description=__doc__)
    p.add_argument("--snapshot", metavar="FILE", help="snapshot file (JSON or YAML); see `rightsizer snapshot`")
    p.add_argument("--repo", metavar="DIR", help="GitOps repository checkout to map and patch")
    p.add_argument("--policy", metavar="PATH", help="policy file or folder (default: .github/rightsizer.yaml or .github/rightsizer/ in the repo)")
    p.add_argument("--out", metavar="DIR", help="write report.json, pr.md and changes.diff here")
    p.add_argument("--write", action="store_true", help="patch the files in the repo checkout")
    p.add_argument("--mode", choices=["off", "report", "pr"], help="override the policy's mode")
    p.add_argument("--max-changes", type=non_negative_int, metavar="N", help="override the policy's cap of changes per PR")
    p.add_argument("--namespaces", default="", metavar="NS[,NS…]", help="only these namespaces")
    p.add_argument("--github-annotations", action="store_true", help="also print errors as GitHub workflow annotations")
    p.add_argument("--quiet", action="store_true", help="no summary on stdout")
    from bot.commands.snapshot import add_collection_arguments

    add_collection_arguments(p)
    p.set_defaults(run=run)


def load_input_snapshot(args: argparse.Namespace):
    """The snapshot file, or one measured live for the repository's policy (its window, resolution and percentiles)."""
    from bot.policy import load_policy

    if not args.snapshot and not getattr(args, "prometheus_url", None):
        raise InputError("<command line>", "give --snapshot FILE (or collect live: see `rightsizer snapshot --help`)", field="--snapshot")
    repo = Path(args.repo) if getattr(args, "repo", None) else None
    if args.snapshot:
        from bot.snapshot import load_snapshot, unmeasured

        snapshot = load_snapshot(args.snapshot)
        try:
            policy = load_policy(repo, getattr(args, "policy", None))
        except InputError:
            return snapshot  # the pipeline reports the policy's own mistake, where the policy is used
        lacking = unmeasured(snapshot, policy.percentiles_used())
        if lacking:
            where, what = lacking
            raise InputError(args.snapshot, f"no {what} usage for {where}, and the policy reads it: this snapshot was measured "
                             "for other percentiles (measure again with `rightsizer snapshot --policy …`)", field=what)
        return snapshot
    from bot.commands.snapshot import collect_from_args

    return collect_from_args(args, policy=load_policy(repo, getattr(args, "policy", None)))


def write_outputs(out: Path, result) -> list[Path]:
    """report.json; pr.md (the resources PR, or the full report when there is none) with changes.diff, exactly
    that PR's files; pr-nodes.md with changes-nodes.diff when a node pool should change (its own PR)."""
    from bot.report.json_report import write_report

    out.mkdir(parents=True, exist_ok=True)
    drafts = {d.scope: d for d in result.drafts}
    write_report(result.report, out / "report.json")
    files = {
        "pr.md": drafts["resources"].body if "resources" in drafts else result.step_summary,
        "changes.diff": drafts["resources"].diff if "resources" in drafts else "",
    }
    if "nodes" in drafts:
        files["pr-nodes.md"] = drafts["nodes"].body
        files["changes-nodes.diff"] = "".join(d.diff for d in result.drafts if d.scope == "nodes")
    for name, text in files.items():
        (out / name).write_text(text, encoding="utf-8")
    return [out / "report.json"] + [out / name for name in files]


def run(args: argparse.Namespace) -> int:
    from bot.commands.snapshot import refuse_measurement_flags_with_snapshot
    from bot.pipeline import run_pipeline
    from bot.policy import Overrides
    from bot.report.markdown import FileLines, render_terminal_summary

    refuse_measurement_flags_with_snapshot(args)
    if args.write and not args.repo:
        raise InputError("<command line>", "--write needs --repo", field="--write")
    repo = Path(args.repo) if args.repo else None
    if repo is not None and not repo.is_dir():
        raise InputError(str(repo), "repository folder not found", field="--repo")
    with timing.phase("snapshot"):
        snapshot = load_input_snapshot(args)
    result = run_pipeline(
        repo, snapshot, args.policy, Overrides(),
        mode_override=args.mode, max_changes=args.max_changes,
        namespaces=tuple(n for n in args.namespaces.split(",") if n), write=args.write,
    )
    if args.out:
        with timing.phase("write outputs"):
            write_outputs(Path(args.out), result)
    for warning in result.warnings:
        print(f"rightsizer: warning: {warning}", file=sys.stderr)
    if not args.quiet:
        with timing.phase("report"):
            files = [FileLines(e.path, tuple(e.lines)) for e in result.edits]
            sys.stdout.write(render_terminal_summary(result.plan, files))
    return 0
