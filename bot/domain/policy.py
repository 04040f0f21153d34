"""The permission policy: who may see an order and who may do what with it.

This is the single place for these rules. Handlers, services and storage ask it; nobody decides ad hoc.
`can_act` combines the state machine (is the action possible now?) with the actor's relation to the order.
`Scope` describes the visibility filter in plain data; storage translates it into SQL, and `can_see`
evaluates the same rule in memory (tests check that both agree).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from bot.domain.errors import NotAllowed
from bot.domain.states import Action, State, can_transition


class Role(StrEnum):
    EMPLOYEE = "employee"
    DEPUTY = "deputy"
    HEAD = "head"
    CONTROLLER = "controller"
    ADMIN = "admin"


MANAGER_ROLES = frozenset({Role.HEAD, Role.DEPUTY})
# Roles that may issue orders on behalf of their department.
ISSUER_ROLES = frozenset({Role.HEAD, Role.DEPUTY, Role.ADMIN})


@dataclass(frozen=True)
class Actor:
    """A registered, active user as the policy sees them."""

    user_id: int
    role: Role
    department_id: int | None
    # The actor's department and every department below it in the tree.
    subtree: frozenset[int] = field(default_factory=frozenset)

    @property
    def is_manager(self) -> bool:
        return self.role in MANAGER_ROLES

    @property
    def sees_everything(self) -> bool:
        return self.role in (Role.CONTROLLER, Role.ADMIN)


@dataclass(frozen=True)
class OrderFacts:
    """What the policy needs to know about an order."""

    state: State
    issuer_id: int | None
    issuer_department_id: int | None
    executor_department_id: int | None
    executor_id: int | None = None
    controller_id: int | None = None
    employees_can_accept: bool = False
    extension_pending: bool = False
    child_department_ids: frozenset[int] = field(default_factory=frozenset)


def is_issuer_side(actor: Actor, o: OrderFacts) -> bool:
    """The issuer, or a head/deputy of the department on whose behalf the order was issued."""
    if o.issuer_id == actor.user_id:
        return True
    return actor.is_manager and o.issuer_department_id is not None and o.issuer_department_id == actor.department_id


def is_executor_manager(actor: Actor, o: OrderFacts) -> bool:
    """A head/deputy of the executor department: receives, assigns, forwards, declines."""
    return (
        actor.is_manager and o.executor_department_id is not None and (o.executor_department_id == actor.department_id)
    )


def is_executor(actor: Actor, o: OrderFacts) -> bool:
    return o.executor_id is not None and o.executor_id == actor.user_id


def is_executor_member(actor: Actor, o: OrderFacts) -> bool:
    return o.executor_department_id is not None and o.executor_department_id == actor.department_id


def is_controller(actor: Actor, o: OrderFacts) -> bool:
    """The order's controller, or anyone of the control office while the order is on control."""
    if o.controller_id is None:
        return False
    return o.controller_id == actor.user_id or actor.role == Role.CONTROLLER


def is_approver(actor: Actor, o: OrderFacts) -> bool:
    """Who accepts reports and decides on extensions: the controller if the order is on control, else the issuer."""
    if o.controller_id is not None:
        return is_controller(actor, o)
    return is_issuer_side(actor, o)


def is_participant(actor: Actor, o: OrderFacts) -> bool:
    return is_issuer_side(actor, o) or is_executor_member(actor, o) or is_executor(actor, o) or is_controller(actor, o)


def _may(actor: Actor, action: Action, o: OrderFacts) -> bool:
    """The role rule for each action (state is checked separately by the state machine)."""
    match action:
        case Action.ACCEPT:
            return is_executor_manager(actor, o) or (o.employees_can_accept and is_executor_member(actor, o))
        case Action.ASSIGN | Action.DECLINE:
            return is_executor_manager(actor, o)
        case Action.FORWARD:
            if o.state == State.DECLINED:
                return is_issuer_side(actor, o)
            return is_executor_manager(actor, o)
        case Action.REPORT | Action.REQUEST_EXTENSION:
            if action == Action.REQUEST_EXTENSION and o.extension_pending:
                return False
            return is_executor(actor, o) or is_executor_manager(actor, o)
        case Action.RETURN | Action.CLOSE:
            return is_approver(actor, o)
        case Action.GRANT_EXTENSION | Action.DENY_EXTENSION:
            return o.extension_pending and is_approver(actor, o)
        case Action.CANCEL:
            return is_issuer_side(actor, o)
        case Action.COMMENT:
            return is_participant(actor, o)
    return False  # pragma: no cover - every Action is matched above


def can_act(actor: Actor, action: Action, o: OrderFacts) -> bool:
    return can_transition(o.state, action) and _may(actor, action, o)


def ensure_can_act(actor: Actor, action: Action, o: OrderFacts) -> None:
    if not can_act(actor, action, o):
        raise NotAllowed(f"{actor.user_id} may not {action} in state {o.state}")


def allowed_actions(actor: Actor, o: OrderFacts) -> list[Action]:
    return [a for a in Action if can_act(actor, a, o)]


def can_issue(actor: Actor) -> bool:
    return actor.role in ISSUER_ROLES and actor.department_id is not None


def can_manage_department(actor: Actor, department_id: int) -> bool:
    """Bind chats, create invites: a head/deputy of that department, or an admin."""
    return actor.role == Role.ADMIN or (actor.is_manager and actor.department_id == department_id)


def can_administer(actor: Actor) -> bool:
    return actor.role == Role.ADMIN


def can_use_control(actor: Actor) -> bool:
    """The /control list of orders on control: the control office and admins."""
    return actor.role in (Role.CONTROLLER, Role.ADMIN)


def invitable_roles(actor: Actor) -> tuple[Role, ...]:
    """Roles the actor may hand out with an invite: admins any; heads and deputies employees and deputies."""
    if actor.role == Role.ADMIN:
        return tuple(Role)
    if actor.is_manager:
        return (Role.EMPLOYEE, Role.DEPUTY)
    return ()


def sees_department_boxes(actor: Actor) -> bool:
    """Whether /inbox and /outbox include the whole department's orders, not only the actor's own."""
    return actor.is_manager or actor.role == Role.ADMIN


# --- visibility -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """Which orders an actor may see, as data. `everything` wins; otherwise an order is visible when

    - the actor is its issuer or executor, or
    - its executor department is in `departments`, or one of its sub-orders' executor departments is, or
    - its issuer department is in `issuing_departments`.
    """

    everything: bool
    user_id: int
    departments: frozenset[int]
    issuing_departments: frozenset[int]


def scope_for(actor: Actor) -> Scope:
    if actor.sees_everything:
        return Scope(True, actor.user_id, frozenset(), frozenset())
    own = frozenset({actor.department_id}) if actor.department_id is not None else frozenset()
    if actor.is_manager:
        tree = actor.subtree | own
        return Scope(False, actor.user_id, tree, tree)
    return Scope(False, actor.user_id, own, frozenset())


def can_see(scope: Scope, o: OrderFacts) -> bool:
    if scope.everything:
        return True
    if scope.user_id in (o.issuer_id, o.executor_id):
        return True
    if o.executor_department_id in scope.departments or (o.child_department_ids & scope.departments):
        return True
    return o.issuer_department_id in scope.issuing_departments
