"""Surgical edits on the shapes real files take. Each expected text is written out by hand."""

import pytest
from hypothesis import given, settings, strategies as st

from bot.gitops.patch import PatchError, read_spec, set_field
from bot.gitops.yamldoc import parse_documents

MI, GI = 2**20, 2**30
B = ("c", "resources")


def test_in_place_keeps_comment_quotes_and_other_lines():
    text = 'c:\n  resources:\n    requests:\n      cpu: "100m"  # tuned\n      memory: 1Gi\n  image: x # keep\n'
    out = set_field(text, 0, B, "requests", "cpu", 250)
    assert out == 'c:\n  resources:\n    requests:\n      cpu: "250m"  # tuned\n      memory: 1Gi\n  image: x # keep\n'


def test_crlf_files_stay_crlf():
    text = "c:\r\n  resources:\r\n    requests:\r\n      memory: 512Mi\r\n"
    out = set_field(text, 0, B, "requests", "cpu", 50)
    assert out == "c:\r\n  resources:\r\n    requests:\r\n      cpu: 50m\r\n      memory: 512Mi\r\n"


def test_flow_maps_stay_flow():
    text = "c:\n  resources:\n    requests: {cpu: 10m, memory: 64Mi}\n"
    out = set_field(text, 0, B, "requests", "memory", 96 * MI)
    out = set_field(out, 0, B, "limits", "memory", 128 * MI)
    assert out == "c:\n  resources:\n    requests: {cpu: 10m, memory: 96Mi}\n    limits:\n      memory: 128Mi\n"
    text2 = "c:\n  resources: {requests: {cpu: 10m}}\n"
    assert set_field(text2, 0, B, "requests", "memory", 64 * MI) == "c:\n  resources: {requests: {cpu: 10m, memory: 64Mi}}\n"
    assert set_field("c:\n  resources: {}\n", 0, B, "requests", "cpu", 5) == "c:\n  resources: {requests: {cpu: 5m}}\n"


def test_adds_a_block_in_the_files_own_indentation():
    text = "c:\n    image: x\n    env: {A: b}\nd: 1\n"
    out = set_field(text, 0, B, "requests", "cpu", 30)
    assert out == "c:\n    image: x\n    env: {A: b}\n    resources:\n      requests:\n        cpu: 30m\nd: 1\n"


def test_number_styles_stay_numbers_and_units_stay_units():
    text = "c:\n  resources:\n    requests:\n      cpu: 1\n      memory: 1073741824\n    limits:\n      cpu: 0.5\n      memory: 2G\n"
    out = set_field(text, 0, B, "requests", "cpu", 2000)
    out = set_field(out, 0, B, "requests", "memory", 512 * MI)
    out = set_field(out, 0, B, "limits", "cpu", 1500)
    out = set_field(out, 0, B, "limits", "memory", 3 * 10**9)
    assert out == "c:\n  resources:\n    requests:\n      cpu: 2\n      memory: 536870912\n    limits:\n      cpu: 1.5\n      memory: 3G\n"


def test_second_document_and_separators():
    text = "---\na: 1\n---\n# doc two\nc:\n  resources:\n    limits:\n      memory: 1Gi\n...\n"
    out = set_field(text, 1, B, "limits", "memory", 2 * GI)
    assert out == text.replace("memory: 1Gi", "memory: 2Gi")


def test_remove_a_key_and_its_empty_parent():
    text = "c:\n  resources:\n    requests:\n      cpu: 10m\n    limits:\n      cpu: 20m\n"
    assert set_field(text, 0, B, "limits", "cpu", None) == "c:\n  resources:\n    requests:\n      cpu: 10m\n"


def test_templated_values_elsewhere_do_not_matter():
    text = 'c:\n  host: "{{ .Release.Name }}.example.org"\n  resources:\n    requests:\n      cpu: 10m\n'
    assert set_field(text, 0, B, "requests", "cpu", 20).endswith("cpu: 20m\n")


def test_non_mapping_resources_refused():
    with pytest.raises(PatchError):
        set_field("c:\n  resources: ${RESOURCES}\n", 0, B, "requests", "cpu", 10)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 64_000), st.integers(1, 2**36), st.sampled_from(["  ", "    "]), st.booleans())
def test_any_values_read_back(cpu, mem, ind, crlf):
    nl = "\r\n" if crlf else "\n"
    text = nl.join(["c:", f"{ind}resources:", f"{ind}{ind}requests:", f"{ind}{ind}{ind}cpu: 100m", f"{ind}other: 1", ""])
    out = set_field(text, 0, B, "requests", "cpu", cpu)
    out = set_field(out, 0, B, "limits", "memory", mem)
    got = read_spec(parse_documents(out)[0], B)
    assert got[("requests", "cpu")] == cpu and got[("limits", "memory")] == mem
    assert out.count("\r\n") == (out.count("\n") if crlf else 0)
    assert f"{ind}other: 1" in out
