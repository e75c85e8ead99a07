"""Target files the bot cannot use say why (issue 17: a HelmRelease that is not UTF-8 or over
2 MiB was "not found" with no reason; with duplicate YAML keys, the first one was edited)."""

from __future__ import annotations

import json

import pytest

from .conftest import HELMRELEASE

SONARR = "repo/apps/sonarr.yaml"


def _plan(world):
    out = world.root / "out"
    before = world.digest()
    r = world.plan("--out", str(out))
    assert r.code == 0, r.err
    after = world.digest()
    changed = {k for k in after if k.startswith("repo/") and after[k] != before.get(k)}
    return json.loads((out / "report.json").read_text()), changed, r


@pytest.mark.parametrize("content,why", [
    (HELMRELEASE.format(name="sonarr").replace("kind: HelmRelease", "kind: HelmRelease # caf\xe9").encode("latin-1"),
     "apps/sonarr.yaml: not UTF-8"),
    # 2,200 lines of 1,003 bytes ≈ 2.1 MiB, over the 2 MiB (2,097,152 bytes) cap on a YAML file.
    (HELMRELEASE.format(name="sonarr").encode() + (b"# " + b"x" * 1000 + b"\n") * 2200,
     "apps/sonarr.yaml: larger than 2 MiB"),
])
def test_unreadable_helmrelease_says_why(world, content, why):
    (world.root / SONARR).write_bytes(content)
    report, changed, r = _plan(world)
    [unmapped] = report["unmapped"]
    assert unmapped["ref"] == "media/sonarr/app" and unmapped["reason"].count(why) == 1, unmapped
    assert f"not read: {why}" in r.err
    assert changed == {"repo/apps/radarr.yaml"}  # the readable one is still patched


def test_duplicate_keys_in_a_target_are_refused_not_guessed(world):
    text = HELMRELEASE.format(name="sonarr") + " " * 14 + "requests:\n" + " " * 16 + "cpu: 2\n"
    assert text.count("requests:") == 2  # under one `resources:`: which one Flux uses is up to the parser
    (world.root / SONARR).write_text(text)
    report, changed, r = _plan(world)
    [refused] = report["refused"]  # a refused file's change is taken out of the plan, with the reason
    assert refused["ref"] == "media/sonarr/app", refused
    assert refused["reason"].startswith('apps/sonarr.yaml: found duplicate key "requests"') and "not edited" in refused["reason"]
    assert changed == {"repo/apps/radarr.yaml"} and (world.root / SONARR).read_text() == text


# It names sonarr, so discovery (which parses only files that mention a workload it looks for) reads it.
DEEP_HELMRELEASE = """\
# values shared with sonarr
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: deep
  namespace: media
spec:
  values:
    x:"""


@pytest.mark.parametrize("nesting", [
    " " + "[" * 200_000 + "]" * 200_000 + "\n",  # flow: libyaml's C composer would exhaust the C stack
    "\n      " + "- " * 300_000 + "a\n",  # block: compact nested sequences, one level per `- `
])
def test_deeply_nested_yaml_in_the_repo_does_not_crash_the_run(world, nesting):
    # A HelmRelease nested 200,000 deep crashed the process (a segmentation fault in libyaml, not an exception)
    # once discovery read positions through libyaml. It is now left to ruamel, which finds it unparseable.
    (world.root / "repo/apps/deep.yaml").write_text(DEEP_HELMRELEASE + nesting)
    report, changed, r = _plan(world)
    assert changed == {"repo/apps/radarr.yaml", "repo/apps/sonarr.yaml"}  # the run went on and patched both
    assert "not read: apps/deep.yaml: not parseable YAML" in r.err and "Traceback" not in r.err
