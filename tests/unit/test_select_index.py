"""The free-room tree that answers "it would fit on …" gives the answer of a plain scan of the nodes in order.

The scan below is the rule as docs/policy.md states it (first node, in the snapshot's order, whose room under
its budget after this PR, less what earlier blocked pods were promised, takes the whole pod, and which admits
it); the tree must agree on every query of a random sequence, reservations included.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.engine.fit import NodeLimits, Projection
from bot.engine.select import _FreeRoom
from bot.model import Node, Resources
from bot.policy import Budgets


def scan(rooms: list[list[int]], names: list[str], need: tuple[int, int], ok) -> str | None:
    for k, name in enumerate(names):
        if rooms[k][0] >= need[0] and rooms[k][1] >= need[1] and ok(name):
            rooms[k][0] -= need[0]
            rooms[k][1] -= need[1]
            return name
    return None


@settings(max_examples=200, deadline=None)
@given(
    budgets=st.lists(st.tuples(st.integers(0, 100), st.integers(0, 100)), min_size=1, max_size=13),
    used=st.lists(st.tuples(st.integers(0, 70), st.integers(0, 70)), min_size=13, max_size=13),
    queries=st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40), st.integers(0, 12), st.booleans()), max_size=25),
)
def test_first_node_with_room_matches_a_scan(budgets, used, queries):
    names = [f"n{k}" for k in range(len(budgets))]
    limits = {n: NodeLimits(n, (b[0] * 2, b[1] * 2), b) for n, b in zip(names, budgets)}
    proj = Projection(limits, Budgets())
    proj.add({n: used[k] for k, n in enumerate(names)})
    tree = _FreeRoom(proj, [Node(n, Resources(1, 1)) for n in names], limits)
    rooms = [[budgets[k][0] - used[k][0], budgets[k][1] - used[k][1]] for k in range(len(names))]
    for cpu, mem, own, odd_only in queries:
        # "admits": not the pod's own node, and (for some pods) only odd-numbered nodes, as a taint would
        def ok(name: str, own=own, odd_only=odd_only) -> bool:
            return name != f"n{own}" and (not odd_only or int(name[1:]) % 2 == 1)

        assert tree.reserve_first((cpu, mem), lambda n: ok(n.name)) == scan(rooms, names, (cpu, mem), ok)
