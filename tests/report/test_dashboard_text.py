"""The dashboard issue's text and the attribution of box changes (pure parts)."""

from __future__ import annotations

import pytest

from bot.engine.plan import build_plan
from bot.errors import InputError
from bot.github.dashboard import Edit, chain, who_flipped
from bot.policy import load_policy
from bot.report import dashboard_markdown as dm
from bot.report.savings import Prices
from tests.unit.test_select import NODES, make_policy, mem_app, snap

A, B, C = "default/a/app", "default/b/app", "default/c/app"


def view(state=dm.DashState()):
    # Cap 1: c selected (largest saving), a and b over the cap, big blocked (see test_select's scenario).
    plan = build_plan(snap([mem_app("big", 3, 5), mem_app("a", 2, 1.5), mem_app("b", 2, 1.5), mem_app("c", 2, 1, "n2")], NODES),
                      make_policy(max_changes=1))
    return dm.DashboardView(plan, Prices(0.0, 0.01), state, pulls=[dm.PullInfo("resources", "open", 3)], updated="now")


def test_render_has_every_box_once_and_reads_back():
    body = dm.render(view())
    assert dm.boxes(body) == {f"include={A}": False, f"include={B}": False,
                              f"skip={A}": False, f"skip={B}": False, f"skip={C}": False,
                              "skip=default/big/app": False, "recompute": False}
    assert "does not fit" in body and "#3 `resources`: open" in body
    # c: 730 × −1 GiB × 0.01 = −7.30 per month (the PR total too).
    assert "- the open PR: **−7.30 USD/month**" in body


def test_state_round_trip_and_accepted_ticks_render_ticked():
    st = dm.DashState(includes=(A,), skips=(B,), since="2026-11-23T08:00:00Z",
                      ignored=(dm.Ignored("eve", "skip x", "no write access (read)"),))
    body = dm.render(view(st))
    assert dm.parse_state(body) == st
    assert dm.boxes(body)[f"include={A}"] is True and dm.boxes(body)[f"skip={B}"] is True
    assert dm.flips(st, body) == {}
    assert "@eve" in body


def test_state_marker_survives_hostile_text():
    st = dm.DashState(ignored=(dm.Ignored("x", "a --> <b>", "-->"),))
    body = dm.render(view(st))
    assert body.count("-->") == body.count("<!--")  # no comment closed early
    assert dm.parse_state(body).ignored == st.ignored


def test_malformed_boxes_and_refs_are_ignored():
    text = "- [x] <!-- rightsizer:include=../../etc -->\n- [x] <!-- rightsizer:recompute=a/b/c -->\n- [x] <!-- rightsizer:skip -->\n"
    assert dm.boxes(text) == {}


def flip(body: str, box: str, on: bool) -> str:
    old, new = ("[ ]", "[x]") if on else ("[x]", "[ ]")
    return body.replace(f"- {old} <!-- rightsizer:{box} -->", f"- {new} <!-- rightsizer:{box} -->", 1)


def test_the_last_editor_who_set_a_box_is_the_one_who_counts():
    b0 = dm.render(view())
    b1 = flip(b0, f"include={A}", True)   # eve ticks
    b2 = flip(b1, f"include={A}", False)  # ann unticks
    b3 = flip(b2, f"include={A}", True)   # bob ticks again
    b4 = flip(b3, f"skip={C}", True)      # eve ticks another box
    edits = chain([Edit("bob", b2, "t3"), Edit("eve", b0, "t1"), Edit("ann", b1, "t2"), Edit("eve", b3, "t4")], b4)
    assert [e.actor for e in edits] == ["eve", "ann", "bob", "eve"]
    assert who_flipped(f"include={A}", True, edits) == "bob"
    assert who_flipped(f"skip={C}", True, edits) == "eve"
    assert who_flipped(f"include={B}", True, edits) is None  # nobody did


def test_the_webhook_edit_and_the_same_feed_entry_count_once():
    b0 = dm.render(view())
    b1 = flip(b0, "recompute", True)
    edits = chain([Edit("ann", b0, "t1", after=b1), Edit("ann", b0, "t1")], b1)
    assert len(edits) == 1 and who_flipped("recompute", True, edits) == "ann"


def test_apply_flips():
    st = dm.DashState(includes=(A,), skips=(C,))
    out = dm.apply_flips(st, {f"include={A}": False, f"include={B}": True, f"skip={C}": False}, [])
    assert out.includes == (B,) and out.skips == ()


def test_bad_costs_are_one_clear_input_error(tmp_path):
    (tmp_path / ".github").mkdir()
    (tmp_path / ".github" / "rightsizer.yaml").write_text("costs:\n  currency: EUR\n  cpuCoreHour: -1\n")
    with pytest.raises(InputError) as err:
        load_policy(tmp_path)
    assert err.value.line == 3 and err.value.field == "costs.cpuCoreHour"


from hypothesis import HealthCheck, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from bot.github.dashboard import decide  # noqa: E402

ROLES = {"ann": "write", "bob": "admin", "eve": "read", "app[bot]": "none"}
BOXES = [f"include={A}", f"include={B}", f"skip={A}", f"skip={C}", "recompute"]


@settings(max_examples=60, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(sorted(ROLES)), st.sampled_from(BOXES)), max_size=8),
       st.integers(min_value=0, max_value=8))
# Found by this test: an App ticks, a writer unticks, ticks, unticks, the App ticks again. The App's
# second edit starts from the same body as its first and was once merged into it as a duplicate report.
@example(toggles=[("app[bot]", f"include={A}"), ("ann", f"include={A}"), ("ann", f"include={A}"),
                  ("ann", f"include={A}"), ("app[bot]", f"include={A}")], lost=0)
def test_only_a_writers_last_change_counts(toggles, lost):
    # A random history of single-box toggles by writers and non-writers; the feed may have lost the
    # first `lost` edits (it keeps only the latest). Independent model: replay the history and remember,
    # per box, who toggled it last and to what.
    state = dm.DashState()
    body = dm.render(view(state))
    edits, last = [], {}
    for i, (who, box) in enumerate(toggles):
        on = not dm.boxes(body)[box]
        new = flip(body, box, on)
        edits.append(Edit(who, body, f"t{i:02d}"))
        last[box] = (who, on)
        body = new
    feed = chain(edits[lost:], body)
    changed = dm.flips(state, body)
    accepted, ignored = decide(changed, feed, ROLES.__getitem__)
    for box, value in changed.items():
        who, on = last[box]
        seen = any(e.actor == who and dm.boxes(e.before).get(box) != on and dm.boxes(e.after).get(box) == on for e in feed)
        if ROLES[who] in ("write", "admin") and seen:
            assert accepted.get(box) == value
        else:
            assert box not in accepted  # a non-writer's change, or one no event explains, never counts
    assert len(accepted) + len(ignored) == len(changed)


def test_node_pool_status_comes_from_report_json_summaries():
    # The demo's policy has one pool, pve-workers (1 node); its status line is report.json's summary, as is.
    from tests.report.demo_plan import demo_result

    result, policy = demo_result()
    pools = result.report["nodePools"]
    assert [p["pool"] for p in pools] == ["pve-workers"]
    body = dm.render(dm.DashboardView(result.plan, Prices(0.0, 0.0), dm.DashState(), pool_notes=dm.pool_notes(result.report)))
    section = body.split("## Node pools\n\n", 1)[1].split("\n\n", 1)[0]
    assert section == f"- {pools[0]['summary']}"
    assert section.startswith("- Node pool `pve-workers`: ")


def test_verification_lines_newest_first_inert_and_capped():
    from bot.engine.verify import Record

    down = (("requests", "memory", "down"),)
    # 1700000000 = 2023-11-14 22:13:20 UTC; one day later 2023-11-15 22:13:20.
    old = Record("a/b/c", 4, "ok", 1_700_000_000.0, down)
    new = Record("a/d/e", 5, "regressed", 1_700_086_400.0, down, ("OOM <!-- rightsizer:skip=a/b/c -->\n- [x] kills",), 6)
    lines = dm.verification_lines([old, new], ["3 of the last 5 changes in namespace `a` were reverted"])
    assert lines == [
        "- ⚠️ 3 of the last 5 changes in namespace `a` were reverted",
        "- 2023-11-15 22:13 UTC `a/d/e` (#5: request memory down): **regressed** — "
        "OOM &lt;!-- rightsizer:skip=a/b/c --&gt; - [x] kills → revert #6",
        "- 2023-11-14 22:13 UTC `a/b/c` (#4: request memory down): **ok**",
    ]
    body = dm.render(dm.DashboardView(view().plan, Prices(0.0, 0.0), dm.DashState(), history=lines))
    assert "skip=a/b/c" not in dm.boxes(body) and dm.boxes(body)["skip=default/c/app"] is False  # no injected box
    # 25 verdicts: the newest 20 and a count of the rest.
    many = dm.verification_lines([Record(f"a/w{i}/c", 1, "ok", float(i)) for i in range(25)])
    assert len(many) == 21 and "`a/w24/c`" in many[0] and many[-1] == "- … and 5 older verdicts"
