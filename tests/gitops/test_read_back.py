"""The fast read-back (libyaml) gives ruamel's verdict on every sizing block of the real corpus.

For each block discovery finds, every value is changed (as tests/gitops/test_corpus.py does) and the patched text is
read back twice: with ``verify`` (ruamel, the parser that gave the positions: the reference) and with
``read_back_fast``. The fast one may decline (False, then ruamel decides), but must never pass a patch ruamel would
refuse, and it must decide nearly all of them, or it saves nothing.
"""

from __future__ import annotations

import pytest

from bot.gitops import discover
from bot.gitops.apply import patch_text, read_back_fast, verify
from bot.gitops.mapping import all_targets
from bot.model import ContainerChange
from tests.gitops.corpus import corpus_or_skip, corpus_repos
from tests.gitops.test_corpus import _bumped, _spec


@pytest.mark.parametrize("name", corpus_repos() or ["(no corpus)"])
def test_fast_read_back_agrees_with_ruamel(name):
    inv = discover(corpus_or_skip() / name)
    decided = total = 0
    for label, target in all_targets(inv):
        yf = inv.files[target.file]
        current = _spec(yf.docs[target.doc], target.block)
        if any(v is not None and v < 0 for v in (current.requests.cpu, current.requests.memory)):
            continue
        items = [(ContainerChange("ns", "Deployment", "w", "c", current, _bumped(current)), target)]
        after = patch_text(yf.text, items, yf.docs)
        fast, reference = read_back_fast(after, items), verify(after, items) is None
        assert not fast or reference, label  # never a pass ruamel would refuse
        # and a value that is not there is caught: the unpatched file does not read back as the new values
        assert not read_back_fast(yf.text, items), label
        decided += fast
        total += 1
    assert decided >= 0.95 * total, (decided, total)
