"""Fuzzing (issue 17): Hypothesis strategies for quantities, durations, comment commands, policies
and snapshots. Every input ends in a value or the module's own error; through the CLI, every run
ends with exit 0 or 2 (never an unmapped exception), writes nothing on error, never touches a file
outside the repository, and finishes within a time bound.

Bounded for CI on 2 cores: a fixed number of examples per property, no example database, and an
explicit per-example deadline (the whole file runs in well under a minute; see SCALE for a deeper search)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from bot.duration import MAX_SECONDS, parse_duration
from bot.github import state as prstate
from bot.github.commands import CommandError, parse as parse_command
from bot.quantity import MAX_CPU_MILLICORES, MAX_MEMORY_BYTES, QuantityError, parse_cpu, parse_memory

from .conftest import HELMRELEASE, snapshot, tree_digest

# RIGHTSIZER_FUZZ_SCALE=20 runs twenty times the examples (a deeper search before a release).
SCALE = max(1, int(os.environ.get("RIGHTSIZER_FUZZ_SCALE", "1")))
FAST = settings(max_examples=400 * SCALE, deadline=1000, database=None)
CLI = settings(max_examples=100 * SCALE, deadline=10_000, database=None, suppress_health_check=[HealthCheck.too_slow])
SECONDS_PER_RUN = 10  # a plan of two containers takes well under a second; 10 s means a hang

# --- building blocks ---------------------------------------------------------------------

NUMBER_TEXT = st.one_of(
    st.integers(-(10**40), 10**40).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.from_regex(r"\A[+-]?\d{0,30}(\.\d{0,10})?([eE][+-]?\d{1,8})?\Z"),
)
SUFFIX = st.sampled_from(["", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n", "u",
                          "GB", "gi", "cores", " Mi", "e", "%"])
QUANTITY_TEXT = st.one_of(
    st.builds(lambda n, s: n + s, NUMBER_TEXT, SUFFIX),
    st.text(max_size=40),
)
QUANTITY = st.one_of(QUANTITY_TEXT, st.integers(-(10**30), 10**30),
                     st.floats(allow_nan=True, allow_infinity=True), st.booleans())
DURATION_TEXT = st.one_of(
    st.from_regex(r"\A(\d{1,14}(ms|s|m|h|d|w|y)){1,4}\Z"),
    st.text(max_size=30),
)

# YAML spellings of the values that once crashed or slipped through (issue 17), plus random ones.
HOSTILE_YAML = st.one_of(
    st.sampled_from([".nan", ".NaN", ".inf", "-.inf", "1e400", "1.0e+309", "-1", "0", "-600m", "16Mi", "500m",
                     "'1e999999'", "99999999999999Ei", "0s", "999999999999d", "yesterday", "'{0}'", "'{n}'",
                     "''", "~", "true", "[]", "{}", "[1, 2]", "'2Gi'", "0.5", "250m", "2Gi", "14d", "5m", "pr",
                     "report", "p95", "99", "1.5", "'*'", "x" * 200]),
    NUMBER_TEXT,
    st.builds(lambda n, s: n + s, NUMBER_TEXT, SUFFIX),
)
POLICY_PATHS = [
    ("window",), ("resolution",), ("mode",), ("preset",),
    *[("defaults", r, k) for r in ("cpu", "memory")
      for k in ("margin", "min", "max", "maxIncreasePercent", "maxDecreasePercent", "percentile")],
    *[("defaults", r, "round", "step") for r in ("cpu", "memory")],
    *[("defaults", r, "deadband", k) for r in ("cpu", "memory") for k in ("percent", "absolute")],
    *[("defaults", r, "limit", k) for r in ("cpu", "memory") for k in ("requestRatio", "usageMargin")],
    *[("defaults", r, "burst", k) for r in ("cpu", "memory") for k in ("threshold", "headroom")],
    ("defaults", "coverage", "required"), ("defaults", "confidence", "maxWiden"),
    *[("namespaces", "media", r, k) for r in ("cpu", "memory") for k in ("min", "max")],
    ("selection", "maxChanges"), ("budgets", "cluster", "cpu"), ("budgets", "node", "memory"),
    ("pr", "title"), ("pr", "branchPrefix"),
]


def _policy_text(values: dict[tuple[str, ...], str]) -> str:
    """A policy with the drawn leaves, written as YAML text (so .nan, 1e400 and friends reach the
    loader the way a person would type them)."""
    tree: dict = {}
    for path, value in values.items():
        node = tree
        for key in path[:-1]:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                return "version: 1\n"
        node[path[-1]] = value

    def emit(node: dict, indent: int) -> str:
        out = ""
        for key, value in node.items():
            if isinstance(value, dict):
                out += " " * indent + f"{key}:\n" + emit(value, indent + 2)
            else:
                out += " " * indent + f"{key}: {value}\n"
        return out

    return "version: 1\n" + emit(tree, 0)


POLICY = st.one_of(
    st.dictionaries(st.sampled_from(POLICY_PATHS), HOSTILE_YAML, min_size=1, max_size=5).map(_policy_text),
    # Raw text: broken YAML, tabs, anchors, duplicate keys, stray documents.
    st.text(alphabet=st.sampled_from(list("version: 1\n-&*!{}[],'\"#|>?%@`\t.0123456789abcdefmGiKE")), max_size=200)
      .map(lambda t: "version: 1\n" + t),
)

HOSTILE_JSON = st.one_of(
    st.sampled_from([float("nan"), float("inf"), float("-inf"), 1e308, -1, -0.5, 0, 10**30, -(10**30), "1e400",
                     "9" * 40 + "Ei", "-600m", "0s", "yesterday", "2026-13-45T99:00:00Z", "", None, True, [], {},
                     "<img src=x onerror=alert(1)>", "../../etc/passwd", "n9", "x" * 300]),
    st.integers(), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30), QUANTITY_TEXT,
)
SNAPSHOT_PATHS = [
    ["window"], ["collectedAt"], ["version"], ["nodes"], ["workloads"],
    ["nodes", 0, "name"], ["nodes", 0, "allocatable", "cpu"], ["nodes", 0, "allocatable", "memory"],
    ["workloads", 0, "kind"], ["workloads", 0, "namespace"], ["workloads", 0, "name"],
    ["workloads", 0, "pods"], ["workloads", 0, "pods", 0, "node"],
    ["workloads", 0, "containers", 0, "name"], ["workloads", 0, "containers", 0, "coverageSeconds"],
    *[["workloads", 0, "containers", 0, "requests", r] for r in ("cpu", "memory")],
    *[["workloads", 1, "containers", 0, "usage", r, p] for r in ("cpu", "memory") for p in ("p50", "p95", "p99", "max")],
]


def _set(data, path, value):
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


@st.composite
def snapshots(draw) -> str:
    data = snapshot()
    for path in draw(st.lists(st.sampled_from(SNAPSHOT_PATHS), min_size=1, max_size=3, unique_by=tuple)):
        try:
            _set(data, path, draw(HOSTILE_JSON))
        except (KeyError, IndexError, TypeError):
            pass  # an earlier draw replaced a parent: keep what we have
    return json.dumps(data, allow_nan=True)


# --- pure parsers ------------------------------------------------------------------------

@FAST
@given(QUANTITY)
def test_quantities_parse_in_range_or_raise_quantity_error(text):
    for parse, most in ((parse_cpu, MAX_CPU_MILLICORES), (parse_memory, MAX_MEMORY_BYTES)):
        try:
            value = parse(text)
        except QuantityError as err:
            assert str(err) and "\n" not in str(err)
        else:
            assert isinstance(value, int) and 0 <= value <= most


@FAST
@given(DURATION_TEXT)
def test_durations_parse_in_range_or_raise_value_error(text):
    try:
        seconds = parse_duration(text)
    except ValueError as err:
        assert str(err)
    else:
        assert isinstance(seconds, int) and 0 <= seconds <= MAX_SECONDS


REF = st.from_regex(r"\A[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?/[a-z0-9]{1,8}/[a-z0-9]{1,8}\Z")


@FAST
@given(REF, st.lists(st.tuples(st.sampled_from(["cpu", "memory", "CPU", "gpu", ""]), QUANTITY_TEXT), max_size=3),
       st.text(max_size=40))
def test_pin_commands_answer_or_refuse_and_what_is_stored_is_read_back(ref, pairs, noise):
    body = f"/rightsize pin {ref} " + " ".join(f"{k}={v}" for k, v in pairs)
    for text in (body, body + noise, "/rightsize " + noise):
        try:
            cmd = parse_command(text)
        except CommandError as err:
            assert str(err) and "\n" not in str(err).split("Usage")[0]
            continue
        if cmd.verb != "pin":
            continue
        pin = cmd.pin
        assert pin.cpu is None or 0 < pin.cpu <= MAX_CPU_MILLICORES
        assert pin.memory is None or 0 < pin.memory <= MAX_MEMORY_BYTES
        # A pin the command accepted survives the PR-body round trip: the next run keeps it.
        stored = prstate.parse(prstate.render(prstate.PrState().with_pin(pin)))
        assert stored.pins == (pin,) and stored.dropped == ()


# --- the CLI, in process -----------------------------------------------------------------

@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    (root / "repo" / "apps").mkdir(parents=True)
    (root / "outside").mkdir()
    (root / "outside" / "values.yaml").write_text("resources: {}\n")
    (root / "snap.json").write_text(json.dumps(snapshot()))
    return root


def _reset(root: Path, policy: str | None) -> None:
    for name in ("radarr", "sonarr"):
        (root / "repo" / "apps" / f"{name}.yaml").write_text(HELMRELEASE.format(name=name))
    path = root / "repo" / ".github" / "rightsizer.yaml"
    path.parent.mkdir(exist_ok=True)
    if policy is None:
        path.unlink(missing_ok=True)
    else:
        path.write_text(policy)


def _plan(root: Path, snap: Path) -> tuple[int, str, float]:
    from bot.cli import main

    out, err = io.StringIO(), io.StringIO()
    start = time.monotonic()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["plan", "--snapshot", str(snap), "--repo", str(root / "repo"), "--write", "--quiet"])
    return code, out.getvalue() + err.getvalue(), time.monotonic() - start


def _check_run(root: Path, code: int, text: str, seconds: float, before: dict[str, str]) -> None:
    assert seconds < SECONDS_PER_RUN, f"took {seconds:.1f}s"
    # 0: planned; 2: bad input with one line naming the file. Never 1 ("unexpected …") for an input.
    assert code in (0, 2), text
    assert "Traceback" not in text and "rightsizer: error: unexpected" not in text, text
    after = tree_digest(root)
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    if code == 2:
        assert changed == set(), changed
        errors = [l for l in text.splitlines() if l.startswith("rightsizer: error: ")]
        assert len(errors) == 1, text
    else:
        assert changed <= {"repo/apps/radarr.yaml", "repo/apps/sonarr.yaml"}, changed


@CLI
@given(POLICY)
def test_fuzzed_policies_exit_0_or_2_and_write_nothing_on_error(sandbox, policy):
    _reset(sandbox, policy)
    before = tree_digest(sandbox)
    _check_run(sandbox, *_plan(sandbox, sandbox / "snap.json"), before)


@CLI
@given(snapshots())
def test_fuzzed_snapshots_exit_0_or_2_and_write_nothing_on_error(sandbox, text):
    _reset(sandbox, None)
    snap = sandbox / "fuzzed.json"
    snap.write_text(text)
    before = tree_digest(sandbox)
    _check_run(sandbox, *_plan(sandbox, snap), before)
