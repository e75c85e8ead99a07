"""The pure parts of the GitHub adapter: command parsing, the state marker, charts, size limits."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.github import state as prstate
from bot.github.app import STEP_SUMMARY_LIMIT, fit_summary
from bot.github.body import MAX_BODY, compose
from bot.report.chart import node_chart
from bot.github.commands import Command, CommandError, is_command, parse
from bot.github.publish import files_digest, git_blob_sha, rationale
from bot.policy import Overrides, Pin


@pytest.mark.parametrize("text, expected", [
    ("/rightsize help", Command("help")),
    ("/rightsize   recompute  \nplease", Command("recompute")),
    ("/rightsize REBASE", Command("rebase")),
    ("/rightsize skip media/sonarr", Command("skip", ref="media/sonarr")),
    ("/rightsize skip media/sonarr/app", Command("skip", ref="media/sonarr/app")),
    ("/rightsize explain media/sonarr", Command("explain", ref="media/sonarr")),
    ("/rightsize explain media/sonarr/app", Command("explain", ref="media/sonarr/app")),
    # 1.5Gi = 1.5 * 1024^3 = 1610612736 bytes; 0.5 cores = 500m.
    ("/rightsize pin media/sonarr/app cpu=0.5 memory=1.5Gi",
     Command("pin", ref="media/sonarr/app", pin=Pin("media/sonarr/app", 500, 1610612736))),
    ("/rightsize pin media/sonarr/app memory=512Mi",
     Command("pin", ref="media/sonarr/app", pin=Pin("media/sonarr/app", None, 512 * 2**20))),
    ("/rightsize pin media/sonarr/app CPU=250m", Command("pin", ref="media/sonarr/app", pin=Pin("media/sonarr/app", 250, None))),
])
def test_parse_valid(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize("text, hint", [
    ("/rightsize", "Which command?"),
    ("/rightsize skip media", "is not `namespace/workload`"),
    ("/rightsize skip Media/Sonarr", "is not `namespace/workload`"),
    ("/rightsize skip a/b c", "is not `namespace/workload`"),
    ("/rightsize help me", "takes no arguments"),
    ("/rightsize pin media/sonarr/app", "needs `cpu=…`"),
    ("/rightsize pin media/sonarr/app cpu=1 cpu=2", "given twice"),
    ("/rightsize pin media/sonarr/app cpu=0", "greater than zero"),
    ("/rightsize pin media/sonarr/app gpu=1", "should be `cpu=<quantity>`"),
    ("/rightsize pin media/sonarr/app memory=-1Gi", "not a Kubernetes quantity"),
    # Near misses get the CLI's hint (bot.quantity.suggestion), not a bare "not a quantity".
    ("/rightsize pin media/sonarr/app memory=7GB", "`7GB` is not a Kubernetes quantity for memory: did you mean 7G or 7Gi?"),
    ("/rightsize pin media/sonarr/app memory=2gi", "did you mean 2Gi?"),
    ("/rightsize pin media/sonarr/app cpu=2cores", "did you mean 2?"),
    ("/rightsize pin media/sonarr/app cpu=1e999999", "is out of range for cpu (at most 1000000 cores)"),
    ("/rightsize pin media/sonarr/app memory=2Ei", "is out of range for memory (at most 1Ei)"),
    ("/rightsize skip `rm -rf`/x", "is not `namespace/workload`"),
])
def test_parse_invalid_is_helpful(text, hint):
    with pytest.raises(CommandError) as info:
        parse(text)
    assert hint in str(info.value)
    assert "\n" not in str(info.value).split("Usage")[0]


def test_only_first_line_counts():
    assert is_command("/rightsize help\nmore") and not is_command("thanks\n/rightsize help")
    assert not is_command("/rightsizer help") and not is_command(None)


@given(st.text(max_size=200))
@settings(max_examples=300, deadline=None)
def test_parse_never_crashes(text):
    try:
        cmd = parse("/rightsize " + text)
    except CommandError as err:
        assert str(err)  # always a message for the reply
    else:
        assert cmd.verb in ("help", "recompute", "rebase", "skip", "pin", "explain")


def test_state_round_trip_and_tolerance():
    s = prstate.PrState(fingerprint="abc", branch_sha="1" * 40, labels_added=("a",), skips=("x/y",),
                        pins=(Pin("x/y/z", 100, None),), summary_lines=("a --> b <!-- c -->",), paused=True)
    body = "text\n\n" + prstate.render(s) + "\n"
    assert "-->" not in prstate.render(s)[:-3]  # the JSON cannot close the comment early
    assert prstate.parse(body) == s
    assert prstate.parse("no marker") == prstate.PrState()
    assert prstate.parse("<!-- rightsizer-state: {broken -->") == prstate.PrState()
    # A human edit that deletes a skip is honoured.
    edited = body.replace('"skips": ["x/y"]', '"skips": []')
    assert prstate.parse(edited).skips == ()
    # Wrong types are dropped, not trusted.
    weird = '<!-- rightsizer-state: {"pins": [{"ref": "a/b/c", "cpu": "lots"}], "paused": "yes"} -->'
    # A pin with no usable value is dropped (and reported once by the run), not kept empty.
    assert prstate.parse(weird).pins == () and prstate.parse(weird).paused is False
    assert len(prstate.parse(weird).dropped) == 1 and "a/b/c" in prstate.parse(weird).dropped[0]
    # Refs must look like Kubernetes names: a hand-edited marker cannot smuggle other text in.
    odd = '<!-- rightsizer-state: {"skips": ["ok/app", "Bad/App", "x/y/z/w", "a;rm/b"], "pins": [{"ref": "a/b"}]} -->'
    assert prstate.parse(odd).skips == ("ok/app",) and prstate.parse(odd).pins == ()


def test_git_blob_sha_matches_git():
    # `printf 'hello\n' | git hash-object --stdin` prints ce013625030ba8dba906f756967f9e9ca394464a.
    assert git_blob_sha(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"
    assert files_digest({"a": b"1", "b": b"2"}) == files_digest({"b": b"2", "a": b"1"})
    assert files_digest({"a": b"1"}) != files_digest({"a": b"2"})


def test_chart_numbers():
    nodes = [{"name": "m720q", "allocatable": {"cpu": 6000, "memory": 32 * 2**30}, "budget": {"cpu": 3600, "memory": 20 * 2**30},
              "before": {"cpu": 2000, "memory": 8 * 2**30 + 1}, "after": {"cpu": 1800, "memory": None}}]
    cpu = node_chart(nodes, "cpu")
    # 40 cells span 6000m: 2000m → round(13.3) = 13 cells, 1800m → 12; the budget 3600m marks cell 24.
    assert "m720q  before " + "█" * 13 + "·" * 11 + "│" + "·" * 15 + "  33% 2000m" in cpu
    assert "       after  " + "█" * 12 + "·" * 12 + "│" + "·" * 15 + "  30% 1800m  budget 3600m" in cpu
    mem = node_chart(nodes, "memory")
    # 8Gi + 1 byte of 32Gi → 10 cells, 25%, shown as 8192Mi (one byte is below the decimal shown); a missing value is 0.
    assert "█" * 10 + "·" * 15 + "│" in mem and "  25% 8192Mi" in mem and "   0% 0Mi  budget 20480Mi" in mem
    assert node_chart([], "cpu") == ""
    assert "evil__name_" in node_chart([{"name": 'evil" name]', "allocatable": {"cpu": 1}}], "cpu")


def test_compose_keeps_marker_and_limit_with_huge_summary():
    s = prstate.PrState(fingerprint="f", summary_lines=tuple("x" * 500 for _ in range(200)))
    body = compose("# plan\n" + "line\n" * 30000, {}, s, "https://github.com/o/r/actions/runs/1")
    assert len(body) <= MAX_BODY
    assert prstate.parse(body).fingerprint == "f"
    assert body.count("```") % 2 == 0


def test_fit_summary_respects_one_mebibyte():
    text = "| row | ✓ |\n" * 200_000  # ~2.6 MB of UTF-8
    out = fit_summary(text)
    assert len(out.encode("utf-8")) <= STEP_SUMMARY_LIMIT
    assert out.endswith("has every decision._\n") and "\ufffd" not in out
    assert fit_summary("short") == "short\n"


def test_rationale_is_a_diff_not_a_copy():
    old = prstate.PrState(summary_lines=("a: cpu 100m → 150m", "b: memory 1Gi → 768Mi"), skips=())
    text = rationale(old, ["a: cpu 100m → 150m", "c: cpu 50m → 80m"], Overrides(skips=("ns/b",)), "@x commented `/rightsize recompute`")
    assert "- c: cpu 50m → 80m" in text and "~~b: memory 1Gi → 768Mi~~" in text
    assert "a: cpu 100m" not in text
    assert "`ns/b` (new)" in text and "@x commented" in text


def test_pin_near_miss_hint_is_the_cli_hint():
    from bot.quantity import not_a_quantity

    # The CLI (policy and snapshot errors) ends with "did you mean 7G or 7Gi?"; the comment reply says the same.
    cli_hint = not_a_quantity("7GB", "memory").split(": ", 1)[1]
    with pytest.raises(CommandError) as info:
        parse("/rightsize pin media/sonarr/app memory=7GB")
    assert cli_hint == "did you mean 7G or 7Gi?" and str(info.value).endswith(cli_hint)
