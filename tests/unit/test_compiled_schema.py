"""The compiled snapshot check (bot/compiled_schema.py) says yes exactly when jsonschema finds no error.

jsonschema is the independent method here: the compiled predicate is only trusted because, on valid
snapshots and on snapshots broken in every way the schema names (wrong type, missing key, bad quantity,
negative number, unknown enum, wrong list length), both give the same answer.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.compiled_schema import Unsupported, compile_schema
from bot.schemas import COMPILED_FORMATS, _schema, is_valid, validator

SCHEMA = _schema("snapshot")


def agree(instance) -> bool:
    """Both answers, asserted equal; returns the answer."""
    by_schema = not any(True for _ in validator("snapshot").iter_errors(instance))
    assert is_valid("snapshot", instance) == by_schema, json.dumps(instance)[:2000]
    return by_schema


quantity = st.one_of(
    st.sampled_from(["100m", "1", "0.5", "2Gi", "512Mi", "1e3", "+3", ".5", "7k", 250, 1.5]),
    st.sampled_from(["7GB", "1.2.3", "m", "-1", "", "1 Gi", "0x10"]),  # refused by the pattern
)
# Ranges reach a little past the schema's bounds, so generated snapshots are valid only most of the time.
percentiles = st.fixed_dictionaries({k: st.floats(-1, 1e10) for k in ("p50", "p90", "p95", "p99", "max")})
container = st.fixed_dictionaries(
    {"name": st.sampled_from(["app", "c0", "sidecar"])},
    optional={
        "init": st.booleans(),
        "requests": st.dictionaries(st.sampled_from(["cpu", "memory", "ephemeral-storage"]), quantity, max_size=3),
        "limits": st.dictionaries(st.sampled_from(["cpu", "memory"]), quantity, max_size=2),
        "usage": st.fixed_dictionaries({}, optional={"cpu": percentiles, "memory": percentiles,
                                                     "cpuHourlyP95": st.lists(st.floats(0, 10), min_size=23, max_size=25)}),
        "coverageSeconds": st.one_of(st.integers(-1, 10**7), st.floats(-1, 1e7)),
        "restarts": st.integers(-1, 5),
        "oomKills": st.integers(0, 5),
        "cpuThrottledRatio": st.one_of(st.none(), st.floats(-0.5, 1.5)),
    },
)
workload = st.fixed_dictionaries(
    {"kind": st.sampled_from(["Deployment", "StatefulSet", "DaemonSet"]), "namespace": st.sampled_from(["media", "db"]),
     "name": st.sampled_from(["sonarr", "postgres"]), "containers": st.lists(container, max_size=3)},
    optional={
        "replicas": st.integers(-1, 3),
        "helmRelease": st.fixed_dictionaries({"name": st.just("sonarr"), "namespace": st.just("media")}),
        "pods": st.lists(st.fixed_dictionaries({"name": st.just("p")}, optional={"node": st.one_of(st.none(), st.just("n1")),
                                                                                   "phase": st.just("Running")}), max_size=2),
        "labels": st.dictionaries(st.just("app"), st.just("x")),
        "tolerations": st.lists(st.fixed_dictionaries({}, optional={"key": st.just("arch"), "operator": st.sampled_from(["Equal", "Exists"]),
                                                                    "effect": st.one_of(st.none(), st.just("NoSchedule"))}), max_size=2),
        "hpa": st.fixed_dictionaries({}, optional={"name": st.just("h"), "minReplicas": st.integers(0, 2), "maxReplicas": st.integers(0, 4),
                                                   "metrics": st.lists(st.fixed_dictionaries({"type": st.just("Resource")},
                                                                                              optional={"target": st.one_of(st.integers(1, 90), st.just("70%"))}), max_size=1)}),
    },
)
node = st.fixed_dictionaries(
    {"name": st.sampled_from(["n1", "n2"]), "allocatable": st.fixed_dictionaries({"cpu": quantity, "memory": quantity})},
    optional={"labels": st.dictionaries(st.just("zone"), st.just("a")), "unschedulable": st.booleans(),
              "taints": st.lists(st.fixed_dictionaries({"key": st.just("k"), "effect": st.sampled_from(["NoSchedule", "NoExecute"])},
                                                       optional={"value": st.one_of(st.none(), st.just("v"))}), max_size=1)},
)
snapshot = st.fixed_dictionaries({
    "version": st.just(1), "collectedAt": st.just("2026-11-22T06:00:00Z"), "window": st.sampled_from(["14d", "1h30m"]),
    "nodes": st.lists(node, max_size=2), "workloads": st.lists(workload, max_size=3),
})

# A value the schema refuses somewhere (or, for a few, accepts: both must still agree).
WRONG = [None, True, False, -1, -0.5, 1.0, 2, "", "x", "7GB", [], {}, [1], {"a": 1}, 1e400 - 1e400]


def _paths(value, path=()):
    yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, path + (i,))


def _break(draw, doc, values: list, new_keys: list[str]):
    """``doc`` (a copy) with one value replaced, one key removed, or one key added."""
    doc = copy.deepcopy(doc)
    paths = list(_paths(doc))[1:]
    if not paths:
        return doc
    path = draw(st.sampled_from(paths))
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    how = draw(st.sampled_from(["replace", "remove", "add"]))
    if how == "replace":
        parent[path[-1]] = draw(st.sampled_from(values))
    elif how == "remove" and isinstance(parent, dict):
        del parent[path[-1]]
    elif isinstance(parent, dict):
        parent[draw(st.sampled_from(new_keys))] = draw(st.sampled_from(WRONG))
    return doc


@st.composite
def broken(draw):
    """A generated snapshot with one value replaced, one key removed, or one unknown key added."""
    return _break(draw, draw(snapshot), WRONG, ["unexpected"])


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(snapshot)
def test_agrees_on_generated_snapshots(snap):
    agree(snap)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(broken())
def test_agrees_on_broken_snapshots(snap):
    agree(snap)


BASE = {"version": 1, "collectedAt": "2026-11-22T06:00:00Z", "window": "14d",
        "nodes": [{"name": "n1", "allocatable": {"cpu": "4", "memory": "8Gi"}}], "workloads": []}


@pytest.mark.parametrize("edit, valid", [
    ({}, True),
    ({"version": 2}, False),  # const 1
    ({"version": True}, False),  # a boolean is not 1 to jsonschema
    ({"version": 1.0}, True),  # but 1.0 is
    ({"window": "14 days"}, False),  # duration pattern
    ({"collectedAt": "yesterday"}, False),  # date-time is checked (RFC 3339), by both
    ({"collectedAt": "2026-11-22 06:00:00Z"}, False),  # RFC 3339 wants the T (or t)
    ({"nodes": [{"name": "", "allocatable": {"cpu": "4", "memory": "8Gi"}}]}, False),  # minLength 1
    ({"nodes": [{"name": "n", "allocatable": {"cpu": "4"}}]}, False),  # memory required
    ({"nodes": [{"name": "n", "allocatable": {"cpu": "4", "memory": "8GB"}}]}, False),  # not a quantity
    ({"workloads": [{"kind": "Deployment", "namespace": "a", "name": "b", "containers": [
        {"name": "c", "usage": {"cpuHourlyP95": [0.1] * 23}}]}]}, False),  # 24 hours exactly
    ({"workloads": [{"kind": "Deployment", "namespace": "a", "name": "b", "containers": [
        {"name": "c", "restarts": 2.0}]}]}, True),  # an integral float is an integer
    ({"workloads": [{"kind": "Deployment", "namespace": "a", "name": "b", "containers": [
        {"name": "c", "restarts": 2.5}]}]}, False),
    ({"workloads": [{"kind": "Rollout", "namespace": "a", "name": "b", "containers": []}]}, False),  # enum
    ({"source": {"anything": [1, 2]}}, True),  # free-form object
    ({"workloads": [{"kind": "Deployment", "namespace": "a", "name": "b", "containers": [
        {"name": "c", "coverageSeconds": float("nan")}]}]}, True),  # json.loads reads NaN; `minimum` lets it by
    # (bot.yamlio.check_finite refuses it before the schema is asked)
])
def test_known_cases(edit, valid):
    assert agree({**BASE, **edit}) is valid


def test_formats_match_what_jsonschema_checks():
    """A format is checked by the compiled predicate exactly when jsonschema's checker would check it."""
    used = {v for p in _paths(SCHEMA) for v in [_get(SCHEMA, p)] if isinstance(v, dict) for v in [v.get("format")] if v}
    checked = set(validator("snapshot").format_checker.checkers)
    assert used == {"date-time"}
    assert {f for f in used if f in checked} == set(COMPILED_FORMATS)


def _get(doc, path):
    for k in path:
        doc = doc[k]
    return doc


def test_an_unknown_keyword_is_refused_not_ignored():
    with pytest.raises(Unsupported):
        compile_schema({"type": "object", "patternProperties": {"^x": {"type": "string"}}})


# --- the policy schema (oneOf, minProperties too): seeds are the shipped presets and the demo's policy ---

def _policy_seeds() -> list:
    from bot.schemas import policies_dir
    from bot.yamlio import load_documents, plain

    presets = [plain(load_documents(f, str(f))[0]) for f in sorted((policies_dir() / "presets").glob("*.yaml"))]
    demo = Path(__file__).resolve().parents[2] / "bot" / "demo" / "policy.yaml"
    # a preset's container policy is what a policy file's `defaults` holds
    return [{"version": 1, "defaults": p["container"]} for p in presets] + [plain(load_documents(demo, str(demo))[0])]


def agree_policy(instance) -> bool:
    by_schema = not any(True for _ in validator("policy").iter_errors(instance))
    assert is_valid("policy", instance) == by_schema, json.dumps(instance)[:2000]
    return by_schema


def test_shipped_policies_are_valid_to_both():
    seeds = _policy_seeds()
    assert len(seeds) >= 3
    assert all(agree_policy(s) for s in seeds)


@st.composite
def broken_policy(draw):
    return _break(draw, draw(st.sampled_from(_policy_seeds())), WRONG + ["p95", "1Gi", "30m", 0.5, {"cpu": {}}],
                  ["unexpected", "cpu", "memory", "mode"])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(broken_policy())
def test_agrees_on_broken_policies(doc):
    agree_policy(doc)


@pytest.mark.parametrize("instance", [5, -1, 2.5, "x", None])
def test_one_of_means_exactly_one(instance):
    # 5 matches both branches (oneOf fails), -1 only the first, 2.5 only the second, "x" and None both (no minimum
    # on a non-number, but not an integer): jsonschema's Draft 2020-12 validator is the reference.
    from jsonschema import Draft202012Validator

    schema = {"oneOf": [{"type": "integer"}, {"minimum": 0}]}
    assert compile_schema(schema)(instance) == Draft202012Validator(schema).is_valid(instance)


@pytest.mark.parametrize("instance", [
    ["cpu", "memory"], ["cpu", "cpu"], [], [1, True], [1, 1.0], [{"a": 1}, {"a": 1.0}], [[1], [True]], [0, False], "x",
])
def test_unique_items_as_json_schema_means_it(instance):
    # true is not 1 and false is not 0 (distinct JSON types), 1.0 is 1, objects and arrays compare by content:
    # jsonschema's Draft 2020-12 validator is the reference.
    from jsonschema import Draft202012Validator

    schema = {"uniqueItems": True}
    assert compile_schema(schema)(instance) == Draft202012Validator(schema).is_valid(instance)
