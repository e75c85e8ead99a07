"""The pure decisions of bot.engine.verify and the state round trip (no servers)."""

from __future__ import annotations

from bot.engine import verify as v
from bot.github import state as prstate
from bot.model import HelmReleaseRef, Resources, ResourceSpec

DAY = 86400
S = v.Settings()
MEM_DOWN = (("requests", "memory", "down"),)


def rec(ref: str, status: str, at: float, moves=MEM_DOWN, pr: int = 1) -> v.Record:
    return v.Record(ref, pr, status, at, moves)


def test_moves_directions():
    old = ResourceSpec(Resources(500, 512), Resources(None, 1024))
    new = ResourceSpec(Resources(600, 256), Resources(200, None))
    c = v.ChangeRecord("ns", "Deployment", "w", "c", old, new)
    # cpu request 500 → 600 up; memory request down; a new cpu limit tightens (down); a removed memory limit loosens (up)
    assert c.moves() == (("requests", "cpu", "up"), ("requests", "memory", "down"),
                         ("limits", "cpu", "down"), ("limits", "memory", "up"))
    assert c.rollout_probe() == ("requests", "cpu", 600)


def test_thresholds_compare_after_with_before():
    calm = v.Health(throttling=0.6, restarts=3)
    # Already as bad before: nothing is blamed on the change.
    assert v.regressions(calm, calm, S) == ()
    # Throttling over 50 % and worse than before; 2 restarts (the threshold) after none.
    got = v.regressions(v.Health(throttling=0.1), v.Health(throttling=0.51, restarts=2), S)
    assert got == ("CPU throttling: 10% before → 51% after (threshold 50%)",
                   "restarts: 0 before → 2 after (threshold 2)")
    # One restart is under the default threshold of two; exactly 50 % throttling is not over it.
    assert v.regressions(v.Health(), v.Health(restarts=1, throttling=0.5), S) == ()
    # The thresholds are policy fields.
    # (no throttling series before: n/a, and anything over the threshold is worse)
    strict = v.settings_from_policy({"thresholds": {"restarts": 1, "throttling": 0.4, "oomKill": False}})
    assert v.regressions(v.Health(), v.Health(restarts=1, throttling=0.45, oom_kills=1), strict) == (
        "CPU throttling: n/a before → 45% after (threshold 40%)", "restarts: 0 before → 1 after (threshold 1)")


def test_backoff_doubles_per_revert_and_is_capped_at_16x():
    # n reverts → cooldown × 2^(n−1) after the latest, capped at 16×: 1, 2, 4, 8, 16, 16 cool-downs.
    for n, factor in ((1, 1), (2, 2), (3, 4), (4, 8), (5, 16), (6, 16)):
        history = [rec("a/b/c", "regressed", 1000.0 * i, pr=i) for i in range(1, n + 1)]
        (b,) = v.backoffs(history, S)
        assert (b.until, b.reverts, b.pr) == (1000.0 * n + S.cooldown * factor, n, n)


def test_holds_block_only_the_same_direction_until_the_backoff_ends():
    holds = v.Holds(tuple(v.backoffs([rec("a/b/c", "regressed", 0.0)], S)))
    cut = (("requests", "memory", "down"),)
    grow = (("requests", "memory", "up"),)
    assert holds.held([("a/b/c", cut)], now=S.cooldown - 1) == {
        "a/b/c": "back-off after 1 revert(s) (latest: #1): no memory downsize until 1970-01-08 00:00 UTC"}
    assert holds.held([("a/b/c", grow)], now=1.0) == {}  # an upsize (e.g. after an OOM) is never held
    assert holds.held([("a/b/c", cut)], now=S.cooldown) == {}  # the cool-down is over
    assert holds.held([("x/y/z", cut)], now=1.0) == {}


def test_degraded_at_three_of_the_last_five():
    def history(statuses):
        return [rec(f"ns/w{i}/c", s, float(i)) for i, s in enumerate(statuses)]

    assert v.degraded(history(["regressed", "regressed", "ok", "ok", "ok"]), S) == []
    (d,) = v.degraded(history(["regressed", "ok", "regressed", "ok", "regressed"]), S)
    assert (d.scope, d.name, d.reverted, d.of) == ("namespace", "ns", 3, 5)
    # Only the last five count: three early reverts followed by five good changes are forgiven.
    assert v.degraded(history(["regressed"] * 3 + ["ok"] * 5), S) == []
    # Not-rolled-out and pending are not judgements and do not count.
    assert v.degraded(history(["regressed", "not-rolled-out", "regressed", "pending"]), S) == []
    # Per workload too: three of one workload's changes reverted.
    same = [rec("ns/api/c", "regressed", float(i)) for i in range(3)]
    assert {(d.scope, d.name) for d in v.degraded(same, S)} == {("workload", "ns/api"), ("namespace", "ns")}


def test_state_round_trip_and_old_markers_unchanged():
    change = v.ChangeRecord("shop", "StatefulSet", "db", "pg", ResourceSpec(Resources(500, 2**30)),
                            ResourceSpec(Resources(250, 2**29), Resources(None, 2**30)), HelmReleaseRef("db", "shop"))
    st = prstate.PrState(fingerprint="f", changes=(change,), merge_commit="a" * 40,
                         verification=(v.Record("shop/db/pg", 3, "regressed", 1700000000.0, MEM_DOWN,
                                                ("OOM kills: 0 before → 1 after",), 4),))
    assert prstate.parse("text\n\n" + prstate.render(st)) == st
    # A state without verification renders exactly as before this feature (no new keys).
    plain = prstate.render(prstate.PrState(fingerprint="f"))
    assert "changes" not in plain and "verification" not in plain and "merge_commit" not in plain


def test_state_drops_malformed_records():
    body = ('<!-- rightsizer-state: {"v": 1, "changes": [{"ref": "bad ref"}, 5, {"ref": "a/b/c", "old": "x"}], '
            '"merge_commit": "not-a-sha", "verification": [{"ref": "a/b/c", "status": "exploded"}, '
            '{"ref": "a/b/c", "status": "ok", "at": true, "moves": [["requests", "memory", "sideways"]]}]} -->')
    st = prstate.parse(body)
    assert [c.ref for c in st.changes] == ["a/b/c"] and st.changes[0].old == ResourceSpec()
    assert st.merge_commit == ""
    assert st.verification == (v.Record("a/b/c", 0, "ok", 0.0, ()),)
