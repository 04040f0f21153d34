"""The order state machine against an explicit transition table written from DOMAIN.md's lifecycle."""

from __future__ import annotations

import pytest

from bot.domain.errors import NotAllowed
from bot.domain.states import (
    ACTIVE_STATES,
    FINAL_STATES,
    OPEN_STATES,
    TRANSITIONS,
    Action,
    State,
    actions_in,
    can_transition,
    next_state,
)

# Columns: new, in_progress, on_review, done, declined, cancelled. A cell is the resulting state, "-" = refused.
COLUMNS = ("new", "in_progress", "on_review", "done", "declined", "cancelled")
TABLE = """
action            new          in_progress  on_review    done  declined  cancelled
accept            in_progress  -            -            -     -         -
assign            -            in_progress  -            -     -         -
forward           new          new          -            -     new       -
decline           declined     -            -            -     -         -
report            -            on_review    -            -     -         -
return            -            -            in_progress  -     -         -
close             -            -            done         -     -         -
cancel            cancelled    cancelled    cancelled    -     cancelled -
comment           new          in_progress  on_review    -     declined  -
request_extension new          in_progress  -            -     -         -
grant_extension   new          in_progress  on_review    -     -         -
deny_extension    new          in_progress  on_review    -     -         -
"""


def _expected() -> dict[tuple[State, Action], State | None]:
    lines = [line.split() for line in TABLE.strip().splitlines()]
    assert tuple(lines[0][1:]) == COLUMNS
    out: dict[tuple[State, Action], State | None] = {}
    for row in lines[1:]:
        action, cells = Action(row[0]), row[1:]
        assert len(cells) == len(COLUMNS), row
        for col, cell in zip(COLUMNS, cells, strict=True):
            out[State(col), action] = None if cell == "-" else State(cell)
    return out


EXPECTED = _expected()
CASES = [(s, a) for s in State for a in Action]


def test_table_covers_every_state_and_action() -> None:
    assert set(EXPECTED) == set(CASES)
    assert len(CASES) == len(State) * len(Action) == 72


@pytest.mark.parametrize(("state", "action"), CASES, ids=[f"{s}-{a}" for s, a in CASES])
def test_transition(state: State, action: Action) -> None:
    expected = EXPECTED[state, action]
    assert can_transition(state, action) is (expected is not None)
    if expected is None:
        with pytest.raises(NotAllowed):
            next_state(state, action)
    else:
        assert next_state(state, action) == expected


@pytest.mark.parametrize("state", list(State))
def test_actions_in_matches_table(state: State) -> None:
    assert set(actions_in(state)) == {a for a in Action if EXPECTED[state, a] is not None}
    # Listed in the Action enum's order, so keyboards are stable.
    assert actions_in(state) == [a for a in Action if a in set(actions_in(state))]


@pytest.mark.parametrize("state", [State.DONE, State.CANCELLED])
def test_final_states_admit_no_action(state: State) -> None:
    assert actions_in(state) == []
    for action in Action:
        with pytest.raises(NotAllowed):
            next_state(state, action)


def test_cancel_from_every_state_but_done_and_cancelled() -> None:
    cancellable = {s for s in State if can_transition(s, Action.CANCEL)}
    assert cancellable == {State.NEW, State.IN_PROGRESS, State.ON_REVIEW, State.DECLINED}
    assert all(next_state(s, Action.CANCEL) == State.CANCELLED for s in cancellable)


def test_state_sets() -> None:
    assert frozenset({State.DONE, State.CANCELLED}) == FINAL_STATES
    assert frozenset({State.NEW, State.IN_PROGRESS, State.ON_REVIEW, State.DECLINED}) == OPEN_STATES
    assert frozenset({State.NEW, State.IN_PROGRESS, State.ON_REVIEW}) == ACTIVE_STATES


def test_every_state_reachable_from_new_and_final_states_are_sinks() -> None:
    reachable, todo = {State.NEW}, [State.NEW]
    while todo:
        s = todo.pop()
        for a in Action:
            t = EXPECTED[s, a]
            if t is not None and t not in reachable:
                reachable.add(t)
                todo.append(t)
    assert reachable == set(State)
    assert all(EXPECTED[s, a] is None for s in FINAL_STATES for a in Action)


def test_transitions_table_has_no_unknown_entries() -> None:
    """TRANSITIONS is keyed by every action and mentions only real states (nothing beyond the expected table)."""
    assert set(TRANSITIONS) == set(Action)
    for action, moves in TRANSITIONS.items():
        for src, dst in moves.items():
            assert EXPECTED[State(src), action] == State(dst)


def test_enums_are_str() -> None:
    assert State.IN_PROGRESS == "in_progress"
    assert Action.REQUEST_EXTENSION == "request_extension"
