"""Policy files: layering and the errors users see."""

import textwrap

import pytest

from bot.errors import InputError
from bot.policy import load_policy
from bot.schemas import policies_dir
from tests.unit.helpers import container, workload


def write(tmp_path, text, name=".github/rightsizer.yaml"):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def error_of(tmp_path, text) -> InputError:
    write(tmp_path, text)
    with pytest.raises(InputError) as exc:
        load_policy(tmp_path)
    return exc.value


def test_no_policy_file_means_built_in_balanced(tmp_path):
    p = load_policy(tmp_path)
    assert p.source == "built-in defaults" and p.preset == "balanced"
    cp = p.for_container(workload("x", [container()]), "app")
    assert cp.memory.percentile == "p95" and cp.layers == ("preset balanced",)  # policies/presets/balanced.yaml


def test_layers_apply_in_order(tmp_path):
    write(tmp_path, """
        version: 1
        preset: resource-advisor
        defaults:
          cpu: {margin: 0.5}
        namespaces:
          media:
            cpu: {margin: 0.4}
            memory: {percentile: p99}
        workloads:
          - match: {namespace: media, name: "jelly*"}
            priority: 10
            policy:
              cpu: {margin: 0.1}
          - match: {namespace: media}
            priority: 1
            policy:
              cpu: {margin: 0.2}
    """)
    p = load_policy(tmp_path)
    media = workload("sonarr", [container()], ns="media")
    jelly = workload("jellyfin", [container()], ns="media")
    other = workload("homepage", [container()], ns="default")
    assert p.for_container(other, "app").cpu.margin == 0.5  # defaults over the preset's 0.30
    assert p.for_container(media, "app").cpu.margin == 0.2  # rule (priority 1) over namespace 0.4
    assert p.for_container(jelly, "app").cpu.margin == 0.1  # priority 10 applied last
    assert p.for_container(jelly, "app").memory.percentile == "p99"  # from the namespace layer, untouched by rules
    assert p.for_container(other, "app").cpu.max_increase_percent == 25  # still the resource-advisor preset


def test_equal_priority_later_rule_wins(tmp_path):
    write(tmp_path, """
        workloads:
          - match: {name: "a*"}
            policy: {cpu: {margin: 0.1}}
          - match: {name: "ab*"}
            policy: {cpu: {margin: 0.2}}
    """)
    assert load_policy(tmp_path).for_container(workload("abc", [container()]), "app").cpu.margin == 0.2


def test_rule_matches_kind_labels_and_container(tmp_path):
    write(tmp_path, """
        workloads:
          - match: {kind: StatefulSet, labels: {tier: db}, container: "post*"}
            policy: {mode: report}
    """)
    p = load_policy(tmp_path)
    db = workload("pg", [container("postgres")], kind="StatefulSet", labels={"tier": "db"})
    assert p.for_container(db, "postgres").mode == "report"
    assert p.for_container(db, "exporter").mode == "pr"
    assert p.for_container(workload("pg", [container("postgres")], labels={"tier": "db"}), "postgres").mode == "pr"


def test_rule_can_switch_preset(tmp_path):
    write(tmp_path, """
        workloads:
          - match: {namespace: legacy}
            policy: {preset: resource-advisor, cpu: {margin: 0.5}}
    """)
    cp = load_policy(tmp_path).for_container(workload("x", [container()], ns="legacy"), "app")
    assert cp.cpu.max_increase_percent == 25 and cp.cpu.margin == 0.5 and cp.memory.percentile == "p95"


def test_no_downsize_and_excluded_containers(tmp_path):
    write(tmp_path, """
        noDownsize: ["media/jellyfin", "media/immich-*"]
        excludeContainers: [gluetun]
    """)
    p = load_policy(tmp_path)
    assert p.for_container(workload("immich-server", [container()], ns="media"), "app").guards.no_downsize
    assert not p.for_container(workload("sonarr", [container()], ns="media"), "app").guards.no_downsize
    assert p.for_container(workload("qbittorrent", [container()], ns="media"), "gluetun").exclude
    assert p.for_container(workload("x", [container()]), "istio-proxy").exclude  # built in


def test_policy_directory_merges_files_in_name_order(tmp_path):
    write(tmp_path, "preset: balanced\nbudgets: {node: {cpu: 70}}\n", ".github/rightsizer/00-base.yaml")
    write(tmp_path, "budgets: {node: {memory: 75}}\nworkloads:\n  - match: {namespace: x}\n    policy: {mode: off}\n", ".github/rightsizer/10-x.yaml")
    p = load_policy(tmp_path)
    assert (p.budgets.node_cpu, p.budgets.node_memory) == (70, 75)
    assert p.for_container(workload("a", [container()], ns="x"), "app").mode == "off"
    assert p.source == ".github/rightsizer/00-base.yaml, .github/rightsizer/10-x.yaml"


def test_conflicting_scalars_across_files_name_both(tmp_path):
    write(tmp_path, "preset: balanced\n", ".github/rightsizer/a.yaml")
    write(tmp_path, "version: 1\npreset: resource-advisor\n", ".github/rightsizer/b.yaml")
    with pytest.raises(InputError) as exc:
        load_policy(tmp_path)
    e = exc.value
    assert e.file == ".github/rightsizer/b.yaml" and e.line == 2 and "a.yaml" in e.message


@pytest.mark.parametrize(
    "text, line, field, words",
    [
        ("version: 1\ndefaults:\n  cpu:\n    margn: 0.2\n", 4, "defaults.cpu.margn", "unknown field 'margn'"),
        ("version: 1\nmode: sometimes\n", 2, "mode", "is not one of"),
        ("defaults:\n  memory:\n    min: 12 parsecs\n", 3, "defaults.memory.min", "'12 parsecs' is not a memory quantity: write bytes"),
        ("workloads:\n  - match: {namespace: a}\n    priority: high\n", 3, "workloads[0].priority", "is not of type 'integer'"),
        ("workloads:\n  - policy: {mode: pr}\n", 2, "workloads[0]", "'match' is a required property"),
        ("defaults:\n  cpu:\n    min: 2\n    max: 500m\n", 3, "defaults.cpu.min", "min 2 is above max 500m"),
        ("budgets:\n  node:\n    cpu: 140\n", 3, "budgets.node.cpu", "greater than the maximum"),
        ("nodePools:\n  - name: w\n    selector: {}\n    terraform: {file: a.tfvars, variable: worker_count}\n    min: 5\n    max: 2\n", 5, "nodePools[0].min", "above max"),
    ],
)
def test_errors_name_file_line_and_field(tmp_path, text, line, field, words):
    e = error_of(tmp_path, text)
    assert e.file == ".github/rightsizer.yaml"
    assert e.line == line, str(e)
    assert e.field == field, str(e)
    assert words in e.message, str(e)


def test_invalid_yaml_names_the_line(tmp_path):
    e = error_of(tmp_path, "defaults:\n  cpu: [unclosed\nmode: pr\n")
    assert e.file == ".github/rightsizer.yaml" and e.line is not None and "not valid YAML" in e.message


def test_duplicate_keys_are_an_error(tmp_path):
    e = error_of(tmp_path, "mode: pr\nmode: off\n")
    assert "not valid YAML" in e.message


def test_explicit_missing_path(tmp_path):
    with pytest.raises(InputError) as exc:
        load_policy(tmp_path, "nope.yaml")
    assert exc.value.file == "nope.yaml"


def test_annotation_format():
    e = InputError(".github/rightsizer.yaml", "bad\nthing", line=4, field="defaults.cpu")
    assert e.annotation() == "::error file=.github/rightsizer.yaml,line=4,title=rightsizer::defaults.cpu: bad%0Athing"


@pytest.mark.parametrize("name", sorted(p.stem for p in (policies_dir() / "presets").glob("*.yaml")))
def test_bundled_presets_read_the_same_with_libyaml_and_the_position_keeping_parser(name):
    """preset_document reads the bundled presets with libyaml (YAML 1.1); the same text read by the policy
    loader's parser (ruamel, YAML 1.2) is the independent method: a 1.1-only reading (yes/no, 1:30, 010)
    would differ here."""
    from bot.policy import preset_document
    from bot.yamlio import load_documents, plain

    assert preset_document(name) == plain(load_documents(policies_dir() / "presets" / f"{name}.yaml")[0])


def test_percentiles_used_are_every_value_a_container_can_resolve_to(tmp_path):
    # balanced reads p95 for both requests and `max` for both limits (policies/presets/balanced.yaml).
    # defaults move the CPU request to p90 for everyone (the preset's p95 can then no longer be reached);
    # namespace media reads memory p99; a rule switches to resource-advisor, whose limits are a formula of
    # the p95 (policies/presets/resource-advisor.yaml), and sets its CPU request to p50; an `equal` memory
    # limit reads no usage, `hourly-p95` falls back to the p95.
    write(tmp_path, """
        defaults:
          cpu: {percentile: p90}
        namespaces:
          media:
            memory: {percentile: p99, limit: {mode: equal}}
          batch:
            cpu: {percentile: hourly-p95}
        workloads:
          - match: {namespace: legacy}
            policy: {preset: resource-advisor, cpu: {percentile: p50}}
    """)
    used = load_policy(tmp_path).percentiles_used()
    # cpu: p90 (defaults), p95 (batch's hourly-p95; resource-advisor's CPU limit formula), p50 (the rule)
    # memory: p95 (balanced's request, resource-advisor's request and limit formula), p99 (media)
    assert used == {"cpu": frozenset({"p50", "p90", "p95"}), "memory": frozenset({"p95", "p99"})}


def test_percentiles_used_by_the_presets_alone(tmp_path):
    assert load_policy(tmp_path).percentiles_used() == {"cpu": frozenset({"p95"}), "memory": frozenset({"p95"})}
    write(tmp_path, "defaults:\n  cpu: {percentile: max}\n  memory: {percentile: max}\n")
    # balanced's limits read `max` too: no percentile at all is measured, only the maxima
    assert load_policy(tmp_path).percentiles_used() == {"cpu": frozenset(), "memory": frozenset()}


def test_every_container_reads_only_percentiles_live_collection_measures(tmp_path_factory):
    # The invariant behind measuring only what the policy reads: for any policy (namespaces and rules that
    # set percentiles, limit modes and presets, in any priority) and any container, what its resolved
    # policy reads is in percentiles_used() (`max` is always measured; hourly-p95 falls back to the p95).
    from hypothesis import given, settings, strategies as st

    from bot.policy import build_policy

    pct = st.sampled_from(["p50", "p90", "p95", "p99", "max", "hourly-p95"])
    resource = st.fixed_dictionaries({}, optional={
        "percentile": pct, "limit": st.fixed_dictionaries({}, optional={"mode": st.sampled_from(["formula", "ratio", "equal", "keep", "none"]),
                                                                        "usage": pct})})
    layer = st.fixed_dictionaries({}, optional={"cpu": resource, "memory": resource,
                                                "preset": st.sampled_from(["balanced", "resource-advisor"])})
    names = st.sampled_from(["a", "b", "c"])
    rules = st.lists(st.fixed_dictionaries({"match": st.fixed_dictionaries({}, optional={"namespace": names, "name": st.sampled_from(["w1", "w*"])}),
                                            "priority": st.integers(0, 3), "policy": layer}), max_size=4)

    @settings(max_examples=60, deadline=None)
    @given(defaults=layer, ns=st.dictionaries(names, layer, max_size=3), rules=rules,
           where=st.tuples(names, st.sampled_from(["w1", "w2"])))
    def check(defaults, ns, rules, where):
        doc = {"defaults": {k: v for k, v in defaults.items() if k != "preset"}, "namespaces": ns, "workloads": rules}
        if "preset" in defaults:
            doc["preset"] = defaults["preset"]
        policy = build_policy([("p.yaml", None, doc)], "p.yaml")
        used = policy.percentiles_used()
        cp = policy.for_container(workload(where[1], [container()], ns=where[0]), "app")
        for r in ("cpu", "memory"):
            read = {"p95" if w == "hourly-p95" else w for w in cp.resource(r).usage_read()} - {"max"}
            assert read <= used[r], (r, read, used[r])

    check()


def test_flow_nesting_is_counted_before_parsing_outside_quotes_and_comments():
    # The parser's scanner is quadratic in open flow brackets (5,000 took 8 s): a file with more than
    # MAX_FLOW_OPEN open at once is refused before it, on the line where the count is passed; brackets in
    # quoted scalars and comments are text, and parse as before.
    from bot.errors import InputError
    from bot.yamlio import MAX_FLOW_OPEN, parse_text

    deep = "[" * (MAX_FLOW_OPEN + 1)
    with pytest.raises(InputError) as refused:
        parse_text(f"version: 1\nnote: ok\nx: {deep}{']' * len(deep)}\n", "p.yaml")
    assert refused.value.line == 3 and "nested too deeply" in str(refused.value)
    for text in (f"a: \"{deep}\"\n", f"a: '{deep}'\n", f"a: 'it''s'\n# {deep}\nb: 1\n",
                 f"a: \"\\\"{deep}\"\n", "a: [" + ", ".join("{x: [1]}" for _ in range(MAX_FLOW_OPEN)) + "]\n"):
        assert parse_text(text, "p.yaml"), text
