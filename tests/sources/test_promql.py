"""The matcher builder: every user string becomes exactly one PromQL string literal."""

import json
import re

import pytest
from hypothesis import given, strategies as st

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
