"""The order state machine: the single place that says which action moves an order from which state to which.

Who may perform an action is the policy's business (`bot.domain.policy`); this module only knows states.
"""

from __future__ import annotations

from enum import StrEnum

from bot.domain.errors import NotAllowed


class State(StrEnum):
    NEW = "new"
    IN_PROGRESS = "in_progress"
    ON_REVIEW = "on_review"
    DONE = "done"
    DECLINED = "declined"
    CANCELLED = "cancelled"


class Action(StrEnum):
    ACCEPT = "accept"
    ASSIGN = "assign"
    FORWARD = "forward"
    DECLINE = "decline"
    REPORT = "report"
    RETURN = "return"
    CLOSE = "close"
    CANCEL = "cancel"
    COMMENT = "comment"
    REQUEST_EXTENSION = "request_extension"
    GRANT_EXTENSION = "grant_extension"
    DENY_EXTENSION = "deny_extension"


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


FINAL_STATES: frozenset[State] = frozenset({State.DONE, State.CANCELLED})
OPEN_STATES: frozenset[State] = frozenset(State) - FINAL_STATES
# States in which the executor side is expected to act (used for "overdue" and extension requests).
ACTIVE_STATES: frozenset[State] = frozenset({State.NEW, State.IN_PROGRESS, State.ON_REVIEW})

_S = State
TRANSITIONS: dict[Action, dict[State, State]] = {
    Action.ACCEPT: {_S.NEW: _S.IN_PROGRESS},
    Action.ASSIGN: {_S.IN_PROGRESS: _S.IN_PROGRESS},
    Action.FORWARD: {_S.NEW: _S.NEW, _S.IN_PROGRESS: _S.NEW, _S.DECLINED: _S.NEW},
    Action.DECLINE: {_S.NEW: _S.DECLINED},
    Action.REPORT: {_S.IN_PROGRESS: _S.ON_REVIEW},
    Action.RETURN: {_S.ON_REVIEW: _S.IN_PROGRESS},
    Action.CLOSE: {_S.ON_REVIEW: _S.DONE},
    Action.CANCEL: {s: _S.CANCELLED for s in (_S.NEW, _S.IN_PROGRESS, _S.ON_REVIEW, _S.DECLINED)},
    Action.COMMENT: {s: s for s in OPEN_STATES},
    Action.REQUEST_EXTENSION: {_S.NEW: _S.NEW, _S.IN_PROGRESS: _S.IN_PROGRESS},
    Action.GRANT_EXTENSION: {s: s for s in ACTIVE_STATES},
    Action.DENY_EXTENSION: {s: s for s in ACTIVE_STATES},
}


def can_transition(state: State, action: Action) -> bool:
    return state in TRANSITIONS[action]


def next_state(state: State, action: Action) -> State:
    """The state after `action`, or NotAllowed when the action makes no sense in `state`."""
    try:
        return TRANSITIONS[action][state]
    except KeyError:
        raise NotAllowed(f"{action} is not possible in state {state}") from None


def actions_in(state: State) -> list[Action]:
    return [a for a in Action if state in TRANSITIONS[a]]
