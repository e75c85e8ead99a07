"""Node counts in Terraform: one number changes, every other byte stays; anything else is reported."""

import pytest

from bot.gitops.tfvars import CountError, read_count, set_count
from tests.gitops.corpus import corpus_or_skip


def test_tfvars_assignment(tmp_path):
    text = '# workers\nworker_count  = 2   # pve-worker-N\nworker_cores = 4\n'
    f = tmp_path / "terraform.tfvars"
    f.write_text(text)
    assert read_count(f, "worker_count") == 2
    assert set_count(text, "worker_count", 3) == '# workers\nworker_count  = 3   # pve-worker-N\nworker_cores = 4\n'


def test_variables_tf_default(tmp_path):
    text = 'variable "worker_count" {\n  type    = number\n  default = 1\n\n  validation {\n    condition = var.worker_count >= 0\n  }\n}\nvariable "other" {\n  default = 9\n}\n'
    f = tmp_path / "variables.tf"
    f.write_text(text)
    assert read_count(f, "worker_count") == 1
    assert set_count(text, "worker_count", 2, "variables.tf") == text.replace("default = 1", "default = 2")


def test_crlf_and_no_trailing_newline():
    assert set_count("a = 1\r\nworker_count = 2", "worker_count", 5) == "a = 1\r\nworker_count = 5"


@pytest.mark.parametrize("value", ["var.base + 1", "{ pve = 3 }", "\"3\"", "length(local.nodes)"])
def test_not_a_plain_number_is_reported(value):
    with pytest.raises(CountError, match="not a plain number"):
        set_count(f"worker_count = {value}\n", "worker_count", 3)


def test_missing_and_duplicated():
    with pytest.raises(CountError, match="no `worker_count"):
        set_count("workers = 2\n", "worker_count", 3)
    with pytest.raises(CountError, match="set 2 times"):
        set_count("worker_count = 2\nworker_count = 3\n", "worker_count", 3)


def test_corpus_tfvars_example():
    root = corpus_or_skip()
    f = root / "Naman1997__simple-talos-cluster" / "terraform.tfvars.example"
    text = f.read_text()
    assert read_count(f, "WORKER_COUNT") == 1
    out = set_count(text, "WORKER_COUNT", 3)
    diff = [(a, b) for a, b in zip(text.splitlines(True), out.splitlines(True)) if a != b]
    assert diff == [("WORKER_COUNT = 1\n", "WORKER_COUNT = 3\n")] and len(out) == len(text)


def test_corpus_variables_without_default_or_as_a_map():
    root = corpus_or_skip()
    with pytest.raises(CountError, match="has no default"):
        read_count(root / "Naman1997__simple-talos-cluster" / "variables.tf", "WORKER_COUNT")
    with pytest.raises(CountError, match="not a plain number"):
        read_count(root / "JeffResc__proxmox-talos-terraform" / "variables.tf", "node_distribution")
    with pytest.raises(CountError, match='no variable "worker_count" block'):
        read_count(root / "JeffResc__proxmox-talos-terraform" / "variables.tf", "worker_count")
