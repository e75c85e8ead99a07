"""The matcher builder: every user string becomes exactly one PromQL string literal."""

import json
import re

import pytest
from hypothesis import given, settings, strategies as st

from bot.sources.promql import label_name, matchers, quote, regex_alternatives

# PromQL double-quoted strings use Go escapes; for text without control characters other than
# \n \r \t those escapes coincide with JSON's, so json.loads is an independent parser here.
_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters=[chr(c) for c in range(0x20) if chr(c) not in "\n\r\t"]))


@given(_text)
def test_quote_round_trips_through_an_independent_parser(value):
    assert json.loads(quote(value)) == value


def test_hostile_value_stays_inside_its_literal():
    hostile = 'a"} or vector(1) or {x="\\'
    sel = matchers(equal={"namespace": hostile})
    # One matcher, whose literal decodes back to the hostile text: nothing escaped the quotes.
    name, _, literal = sel[1:-1].partition("=")
    assert name == "namespace"
    assert json.loads(literal) == hostile


@given(st.lists(_text, min_size=1, max_size=5))
def test_regex_alternatives_match_exactly_the_values(values):
    pattern = re.compile(regex_alternatives(values))
    for v in values:
        assert pattern.fullmatch(v)
    assert not pattern.fullmatch("".join(values) + "x") or ("".join(values) + "x") in values


def test_label_names_are_checked_not_escaped():
    assert label_name("cluster") == "cluster"
    for bad in ['cluster"}', "1abc", "a-b", ""]:
        with pytest.raises(ValueError):
            label_name(bad)


@settings(max_examples=200, deadline=None)
@given(window=st.integers(1, 60 * 86400), step=st.sampled_from([1, 15, 30, 60, 120, 300]))
def test_the_cpu_maximum_halves_cover_the_window_exactly(window, step):
    # The two queries of the CPU maximum: [recent:step] at t and [earlier:step] offset recent. Their ranges
    # meet at t − recent and together span t − window … t, so their subquery steps are exactly the whole
    # window's (the recent range a whole number of steps keeps both on the same grid).
    from bot.sources.prometheus import split_window

    recent, earlier = split_window(f"{window}s", f"{step}s")
    if earlier is None:
        assert window < 2 * step and recent == f"{window}s"
        return
    r, e = int(recent[:-1]), int(earlier[:-1])
    assert r + e == window and r % step == 0 and r >= step and e >= step
