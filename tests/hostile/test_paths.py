"""`plan --write` cannot touch a path outside the repository, nor read through a symlink or a
special file; and "nothing written" holds for every refusal, all or nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.safefs import PathRefused, inside, repo_relative, write_all

from .conftest import HELMRELEASE


def test_symlinked_helmrelease_is_refused_and_its_target_untouched(world):
    target = world.outside / "sonarr.yaml"
    target.write_text(HELMRELEASE.format(name="sonarr"))
    (world.repo / "apps" / "sonarr.yaml").unlink()
    (world.repo / "apps" / "sonarr.yaml").symlink_to(target)
    before = world.digest()
    r = world.plan()
    assert r.code == 0, r.err
    after = world.digest()
    # Only radarr (a regular file) changed; the symlink and the file it points at did not.
    assert {k for k in after if after[k] != before[k]} == {"repo/apps/radarr.yaml"}
    assert "symlink" in r.err


@pytest.mark.parametrize("src", ["../../../outside/values.yaml", "ABSOLUTE"])
def test_kustomize_generator_path_outside_the_repo_is_never_read_or_written(world, src):
    src = str(world.outside / "values.yaml") if src == "ABSOLUTE" else src
    folder = world.repo / "apps" / "radarr"
    folder.mkdir()
    (world.repo / "apps" / "radarr.yaml").unlink()
    (folder / "helmrelease.yaml").write_text(
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: radarr\n  namespace: media\n"
        "spec:\n  valuesFrom:\n    - kind: ConfigMap\n      name: radarr-values\n")
    (folder / "kustomization.yaml").write_text(
        f"apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [helmrelease.yaml]\n"
        f"configMapGenerator:\n  - name: radarr-values\n    files: [values.yaml={src}]\n")
    before = world.digest()
    r = world.plan()
    assert r.code == 0, r.err
    changed = {k for k, v in world.digest().items() if before.get(k) != v}
    assert changed == {"repo/apps/sonarr.yaml"}  # radarr has no values inside the repo: not patched


@pytest.mark.parametrize("field,value", [
    ("gitops.mappings[0].file", "../outside/values.yaml"),
    ("gitops.mappings[0].file", "/etc/passwd"),
    ("nodePools[0].terraform.file", "../outside/terraform.tfvars"),
    ("nodePools[0].terraform.file", "infra/../../outside/terraform.tfvars"),
])
def test_policy_paths_outside_the_repo_are_bad_input(world, field, value):
    if field.startswith("gitops"):
        policy = ("version: 1\ngitops:\n  mappings:\n    - workload: media/sonarr\n"
                  f"      file: {value}\n      path: resources\n")
        line = 5
    else:
        policy = ("version: 1\nnodePools:\n  - name: workers\n    selector: {}\n    terraform:\n"
                  f"      file: {value}\n      variable: worker_count\n")
        line = 6
    world.policy(policy)
    before = world.digest()
    r = world.plan()
    assert r.code == 2
    assert f".github/rightsizer.yaml:{line}: {field}: must be a path inside the repository" in r.err
    assert len(r.err.strip().splitlines()) == 1
    assert world.digest() == before


def test_fifo_and_dev_zero_named_yaml_do_not_hang_the_run(world):
    os.mkfifo(world.repo / "apps" / "fifo.yaml")
    (world.repo / "apps" / "zero.yaml").symlink_to("/dev/zero")
    r = world.plan(timeout=60)
    # Both are skipped with a reason; the two real HelmReleases are still patched.
    assert r.code == 0, r.err
    assert r.seconds < 30
    assert "sonarr" in (world.repo / "apps" / "sonarr.yaml").read_text()
    assert "cpu: 1000m" not in (world.repo / "apps" / "sonarr.yaml").read_text()


def test_read_only_file_midway_means_nothing_is_written(world):
    # radarr.yaml sorts first and is writable; sonarr.yaml is read-only. Before the fix radarr
    # was patched, then the run crashed on sonarr.
    (world.repo / "apps" / "sonarr.yaml").chmod(0o444)
    before = world.digest()
    r = world.plan()
    assert r.code == 1 and "read-only" in r.err and "nothing was written" in r.err
    assert len(r.err.strip().splitlines()) == 1
    assert world.digest() == before


@pytest.mark.parametrize("policy,where", [
    ('version: 1\npr:\n  title: "{0}"\n', ".github/rightsizer.yaml:3: pr.title:"),
    ('version: 1\npr:\n  title: "{n.real.x}"\n', ".github/rightsizer.yaml:3: pr.title:"),
])
def test_bad_pr_title_is_caught_before_any_write(world, policy, where):
    world.policy(policy)
    before = world.digest()
    r = world.plan()
    assert r.code == 2 and where in r.err, r.err
    assert world.digest() == before


def test_collected_at_must_be_a_date_time(world):
    from .conftest import snapshot

    snap = world.write_snapshot(snapshot(collectedAt="yesterday"), "bad.json")
    before = world.digest()
    r = world.plan(snap=snap)
    assert r.code == 2 and "collectedAt: 'yesterday' is not a 'date-time'" in r.err, r.err
    assert world.digest() == before


# --- the gate itself ---------------------------------------------------------------------

@pytest.mark.parametrize("rel,clean", [
    ("apps/x.yaml", "apps/x.yaml"), ("./apps//x.yaml", "apps/x.yaml"), ("apps/sub/../x.yaml", "apps/x.yaml"),
])
def test_repo_relative_accepts_paths_that_stay_inside(rel, clean):
    assert repo_relative(rel) == clean


@pytest.mark.parametrize("rel", ["../x", "apps/../../x", "/etc/passwd", "", ".", ".git/config", "a\\b", "a\0b"])
def test_repo_relative_refuses_paths_that_leave_or_hide(rel):
    with pytest.raises(PathRefused):
        repo_relative(rel)


def test_inside_refuses_symlinked_folders_and_special_files(tmp_path):
    root = tmp_path / "repo"
    (root / "real").mkdir(parents=True)
    (root / "real" / "f.yaml").write_text("a: 1\n")
    (root / "linked").symlink_to(root / "real")
    os.mkfifo(root / "pipe.yaml")
    assert inside(root, "real/f.yaml") == root / "real" / "f.yaml"
    for rel, why in (("linked/f.yaml", "is a symlink"), ("pipe.yaml", "a FIFO"), ("real", "a directory"),
                     ("real/f.yaml/x", "not a directory"), ("real/missing.yaml", "not found")):
        with pytest.raises(PathRefused, match=why):
            inside(root, rel)


def test_write_all_rolls_back_when_a_rename_fails(tmp_path, monkeypatch):
    root = tmp_path
    for name in ("a.yaml", "b.yaml", "c.yaml"):
        (root / name).write_text(f"{name} before\n")
    real_replace, calls = os.replace, []

    def flaky_replace(src, dst):
        calls.append(Path(dst).name)
        if Path(dst).name == "c.yaml" and len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", flaky_replace)
    with pytest.raises(OSError):
        write_all(root, {"a.yaml": b"a after\n", "b.yaml": b"b after\n", "c.yaml": b"c after\n"})
    # a and b had been replaced; both were put back, and no temp file is left behind.
    assert sorted(p.name for p in root.iterdir()) == ["a.yaml", "b.yaml", "c.yaml"]
    assert [(root / n).read_text() for n in ("a.yaml", "b.yaml", "c.yaml")] == ["a.yaml before\n", "b.yaml before\n", "c.yaml before\n"]
