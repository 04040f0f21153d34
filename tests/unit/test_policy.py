"""The permission policy as an explicit matrix (state × action × relation of the actor to the order), and the
visibility rule over the demo organisation: SQL filter, in-memory rule and DOMAIN.md's table must agree."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.domain.errors import NotAllowed
from bot.domain.policy import (
    Actor,
    OrderFacts,
    Role,
    Scope,
    allowed_actions,
    can_act,
    can_administer,
    can_issue,
    can_manage_department,
    can_see,
    ensure_can_act,
    scope_for,
)
from bot.domain.states import Action, State
from bot.services import orders
from bot.services.orders import list_orders
from storage.db import make_engine, make_session_factory
from storage.models import Order
from storage.repositories import OrderFilter, visible
from storage.uow import UnitOfWork
from tests import factories as f

# --- the permission matrix ---------------------------------------------------------------------------------

ISS, EXE, OTH, CTRL_DEPT, ADMIN_DEPT = 1, 2, 3, 4, 5
ISSUER, ISS_HEAD, EXE_HEAD, EXE_DEPUTY, EXECUTOR, EXE_EMP = 10, 11, 20, 21, 22, 23
CONTROLLER, OTHER_CONTROLLER, ADMIN, OUT_EMP, OUT_HEAD = 30, 31, 40, 50, 51

ACTORS = {
    ISSUER: Actor(ISSUER, Role.HEAD, ISS),
    ISS_HEAD: Actor(ISS_HEAD, Role.HEAD, ISS),
    EXE_HEAD: Actor(EXE_HEAD, Role.HEAD, EXE),
    EXE_DEPUTY: Actor(EXE_DEPUTY, Role.DEPUTY, EXE),
    EXECUTOR: Actor(EXECUTOR, Role.EMPLOYEE, EXE),
    EXE_EMP: Actor(EXE_EMP, Role.EMPLOYEE, EXE),
    CONTROLLER: Actor(CONTROLLER, Role.CONTROLLER, CTRL_DEPT),
    OTHER_CONTROLLER: Actor(OTHER_CONTROLLER, Role.CONTROLLER, CTRL_DEPT),
    ADMIN: Actor(ADMIN, Role.ADMIN, ADMIN_DEPT),
    OUT_EMP: Actor(OUT_EMP, Role.EMPLOYEE, OTH),
    OUT_HEAD: Actor(OUT_HEAD, Role.HEAD, OTH),
}

# relation -> (actor, order on control by CONTROLLER?, executor department lets employees accept?)
RELATIONS: dict[str, tuple[int, bool, bool]] = {
    "issuer": (ISSUER, False, False),
    "issuer_on_control": (ISSUER, True, False),
    "issuer_dept_head": (ISS_HEAD, False, False),
    "exec_head": (EXE_HEAD, False, False),
    "exec_deputy": (EXE_DEPUTY, False, False),
    "executor": (EXECUTOR, False, False),
    "exec_employee": (EXE_EMP, False, False),
    "exec_employee_can_accept": (EXE_EMP, False, True),
    "controller_on_control": (CONTROLLER, True, False),
    "other_controller_on_control": (OTHER_CONTROLLER, True, False),
    "controller_not_on_control": (CONTROLLER, False, False),
    "admin": (ADMIN, False, False),
    "outsider_employee": (OUT_EMP, False, False),
    "outsider_head": (OUT_HEAD, False, False),
}

# Cells: the states (N new, P in_progress, R on_review, D done, X declined, C cancelled) in which the relation may
# do the action; "-" = never. Grant/deny are evaluated with an extension pending, everything else without.
MATRIX = """
relation                    accept assign forward decline report return close cancel comment request grant deny
issuer                      -      -      X       -       -      R      R     NPRX   NPRX    -       NPR   NPR
issuer_on_control           -      -      X       -       -      -      -     NPRX   NPRX    -       -     -
issuer_dept_head            -      -      X       -       -      R      R     NPRX   NPRX    -       NPR   NPR
exec_head                   N      P      NP      N       P      -      -     -      NPRX    NP      -     -
exec_deputy                 N      P      NP      N       P      -      -     -      NPRX    NP      -     -
executor                    -      -      -       -       P      -      -     -      NPRX    NP      -     -
exec_employee               -      -      -       -       -      -      -     -      NPRX    -       -     -
exec_employee_can_accept    N      -      -       -       -      -      -     -      NPRX    -       -     -
controller_on_control       -      -      -       -       -      R      R     -      NPRX    -       NPR   NPR
other_controller_on_control -      -      -       -       -      R      R     -      NPRX    -       NPR   NPR
controller_not_on_control   -      -      -       -       -      -      -     -      -       -       -     -
admin                       -      -      -       -       -      -      -     -      -       -       -     -
outsider_employee           -      -      -       -       -      -      -     -      -       -       -     -
outsider_head               -      -      -       -       -      -      -     -      -       -       -     -
"""
COLUMN_ACTIONS = {
    "accept": Action.ACCEPT,
    "assign": Action.ASSIGN,
    "forward": Action.FORWARD,
    "decline": Action.DECLINE,
    "report": Action.REPORT,
    "return": Action.RETURN,
    "close": Action.CLOSE,
    "cancel": Action.CANCEL,
    "comment": Action.COMMENT,
    "request": Action.REQUEST_EXTENSION,
    "grant": Action.GRANT_EXTENSION,
    "deny": Action.DENY_EXTENSION,
}
LETTERS = {
    "N": State.NEW,
    "P": State.IN_PROGRESS,
    "R": State.ON_REVIEW,
    "D": State.DONE,
    "X": State.DECLINED,
    "C": State.CANCELLED,
}


def _parse_matrix() -> dict[tuple[str, Action], frozenset[State]]:
    lines = [line.split() for line in MATRIX.strip().splitlines()]
    header = lines[0][1:]
    assert [COLUMN_ACTIONS[h] for h in header] == list(Action)
    out = {}
    for row in lines[1:]:
        rel, cells = row[0], row[1:]
        assert len(cells) == len(header), row
        for h, cell in zip(header, cells, strict=True):
            out[rel, COLUMN_ACTIONS[h]] = frozenset() if cell == "-" else frozenset(LETTERS[c] for c in cell)
    return out


EXPECTED = _parse_matrix()


def facts(state: State, *, on_control: bool, can_accept: bool, extension_pending: bool) -> OrderFacts:
    return OrderFacts(
        state=state,
        issuer_id=ISSUER,
        issuer_department_id=ISS,
        executor_department_id=EXE,
        executor_id=EXECUTOR,
        controller_id=CONTROLLER if on_control else None,
        employees_can_accept=can_accept,
        extension_pending=extension_pending,
    )


def test_matrix_covers_every_relation_and_action() -> None:
    assert {r for r, _ in EXPECTED} == set(RELATIONS)
    assert len(EXPECTED) == len(RELATIONS) * len(Action)


MATRIX_CASES = [(r, a) for r in RELATIONS for a in Action]


@pytest.mark.parametrize(("relation", "action"), MATRIX_CASES, ids=[f"{r}-{a}" for r, a in MATRIX_CASES])
def test_permission_matrix(relation: str, action: Action) -> None:
    user, on_control, can_accept = RELATIONS[relation]
    actor = ACTORS[user]
    pending = action in (Action.GRANT_EXTENSION, Action.DENY_EXTENSION)
    allowed = set()
    for state in State:
        o = facts(state, on_control=on_control, can_accept=can_accept, extension_pending=pending)
        if can_act(actor, action, o):
            allowed.add(state)
            ensure_can_act(actor, action, o)  # does not raise
            assert action in allowed_actions(actor, o)
        else:
            with pytest.raises(NotAllowed):
                ensure_can_act(actor, action, o)
            assert action not in allowed_actions(actor, o)
    assert allowed == EXPECTED[relation, action]


@pytest.mark.parametrize("relation", list(RELATIONS))
def test_pending_extension_blocks_a_second_request(relation: str) -> None:
    user, on_control, can_accept = RELATIONS[relation]
    for state in State:
        o = facts(state, on_control=on_control, can_accept=can_accept, extension_pending=True)
        assert not can_act(ACTORS[user], Action.REQUEST_EXTENSION, o)


@pytest.mark.parametrize("relation", list(RELATIONS))
def test_no_decision_without_a_pending_extension(relation: str) -> None:
    user, on_control, can_accept = RELATIONS[relation]
    for state in State:
        o = facts(state, on_control=on_control, can_accept=can_accept, extension_pending=False)
        assert not can_act(ACTORS[user], Action.GRANT_EXTENSION, o)
        assert not can_act(ACTORS[user], Action.DENY_EXTENSION, o)


@pytest.mark.parametrize("state", [State.DONE, State.CANCELLED])
def test_nobody_acts_on_a_finished_order(state: State) -> None:
    for on_control in (False, True):
        for can_accept in (False, True):
            for pending in (False, True):
                o = facts(state, on_control=on_control, can_accept=can_accept, extension_pending=pending)
                for a in ACTORS.values():
                    assert allowed_actions(a, o) == []


def test_executor_of_a_department_that_lets_employees_accept() -> None:
    o = facts(State.NEW, on_control=False, can_accept=True, extension_pending=False)
    assert can_act(ACTORS[EXECUTOR], Action.ACCEPT, o)
    assert not can_act(ACTORS[OUT_EMP], Action.ACCEPT, o)


def test_head_of_a_parent_department_is_not_the_executor_manager() -> None:
    """Managing the directorate above the executor department does not make one its head."""
    parent_head = Actor(60, Role.HEAD, 6, subtree=frozenset({6, EXE}))
    o = facts(State.NEW, on_control=False, can_accept=False, extension_pending=False)
    assert allowed_actions(parent_head, o) == []


def test_order_without_issuer_department_is_not_every_managers() -> None:
    o = replace(
        facts(State.NEW, on_control=False, can_accept=False, extension_pending=False),
        issuer_department_id=None,
        executor_department_id=None,
    )
    no_dept_head = Actor(70, Role.HEAD, None)
    assert allowed_actions(no_dept_head, o) == []


@pytest.mark.parametrize(
    ("actor", "expected"),
    [
        (Actor(1, Role.HEAD, 1), True),
        (Actor(1, Role.DEPUTY, 1), True),
        (Actor(1, Role.ADMIN, 1), True),
        (Actor(1, Role.ADMIN, None), False),
        (Actor(1, Role.HEAD, None), False),
        (Actor(1, Role.EMPLOYEE, 1), False),
        (Actor(1, Role.CONTROLLER, 1), False),
    ],
)
def test_can_issue(actor: Actor, expected: bool) -> None:
    assert can_issue(actor) is expected


def test_department_management_and_administration() -> None:
    assert can_manage_department(Actor(1, Role.HEAD, 5), 5)
    assert can_manage_department(Actor(1, Role.DEPUTY, 5), 5)
    assert not can_manage_department(Actor(1, Role.HEAD, 5, frozenset({5, 6})), 6)
    assert not can_manage_department(Actor(1, Role.EMPLOYEE, 5), 5)
    assert not can_manage_department(Actor(1, Role.CONTROLLER, 5), 5)
    assert can_manage_department(Actor(1, Role.ADMIN, None), 5)
    assert can_administer(Actor(1, Role.ADMIN, None))
    assert not any(can_administer(Actor(1, r, 1)) for r in Role if r != Role.ADMIN)


def test_scope_for_each_role() -> None:
    assert scope_for(Actor(1, Role.CONTROLLER, 4)).everything
    assert scope_for(Actor(1, Role.ADMIN, None)).everything
    emp = scope_for(Actor(2, Role.EMPLOYEE, 3, frozenset({3, 7})))
    assert emp == Scope(False, 2, frozenset({3}), frozenset())
    head = scope_for(Actor(3, Role.HEAD, 3, frozenset({3, 7})))
    assert head == Scope(False, 3, frozenset({3, 7}), frozenset({3, 7}))
    assert scope_for(Actor(4, Role.EMPLOYEE, None)) == Scope(False, 4, frozenset(), frozenset())


def test_can_see_in_memory() -> None:
    o = OrderFacts(State.NEW, 10, 1, 2, executor_id=22, child_department_ids=frozenset({9}))
    assert can_see(Scope(True, 99, frozenset(), frozenset()), o)
    assert can_see(Scope(False, 10, frozenset(), frozenset()), o)  # issuer
    assert can_see(Scope(False, 22, frozenset(), frozenset()), o)  # executor
    assert can_see(Scope(False, 5, frozenset({2}), frozenset()), o)  # addressed to the department
    assert can_see(Scope(False, 5, frozenset({9}), frozenset()), o)  # a sub-order addressed there
    assert can_see(Scope(False, 5, frozenset(), frozenset({1})), o)  # issued by the department
    assert not can_see(Scope(False, 5, frozenset({1}), frozenset({2})), o)


# --- the visibility matrix over the demo organisation -------------------------------------------------------


@pytest.fixture
async def demo_uow(tmp_path: Path) -> AsyncIterator[UnitOfWork]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'visibility.db'}")
    await f.create_schema(engine)
    yield UnitOfWork(make_session_factory(engine))
    await engine.dispose()


def _subtree(parents: dict[str, str | None], code: str) -> set[str]:
    """The department and everything below it, from the demo JSON (independently of the repository)."""
    out = {code}
    changed = True
    while changed:
        changed = False
        for c, p in parents.items():
            if p in out and c not in out:
                out.add(c)
                changed = True
    return out


async def test_visibility_matrix_over_the_demo_organisation(demo_uow: UnitOfWork) -> None:
    uow, ctx, data = demo_uow, f.make_ctx(), f.load_demo()
    await f.import_demo(uow, data)
    await f.create_demo_orders(ctx, uow, data)
    codes = await f.dept_ids(uow)
    by_title = {o.title: o for o in await f.all_orders(uow) if o.parent_id is None}

    # Give some orders a personal executor and move one to another department, so that every clause matters.
    def staff_of(code: str) -> int:
        return f.first_with(data, code, "employee")

    law_order = by_title["Провести правовую экспертизу проекта решения Думы о внесении изменений в бюджет"]
    await orders.perform(
        ctx,
        uow,
        await f.actor(uow, f.head_of(data, "LAW")),
        law_order.id,
        Action.ACCEPT,
        executor_id=await f.user_id(uow, staff_of("LAW")),
    )
    press = by_title["Подготовить пресс-релиз об открытии отремонтированного спортивного зала школы № 3"]
    await orders.perform(
        ctx,
        uow,
        await f.actor(uow, f.head_of(data, "PRESS")),
        press.id,
        Action.FORWARD,
        department_id=codes["CULT"],
        comment="Не наша компетенция",
    )

    all_rows = await f.all_orders(uow)
    users = await f.all_users(uow)
    child_depts: dict[int, set[int]] = {}
    for o in all_rows:
        if o.parent_id is not None and o.executor_department_id is not None:
            child_depts.setdefault(o.parent_id, set()).add(o.executor_department_id)

    parents = {d["code"]: d["parent"] for d in data["departments"]}
    code_of = {v: k for k, v in codes.items()}
    person = {e["telegram_id"]: e for e in data["employees"]}
    # One order per demo order for its first department, plus one sub-order per co-executor department:
    # 20 + 5 = 25 (the four multi-department orders have 2, 2, 3 and 2 departments).
    total = sum(len(spec["to"]) for spec in data["orders"])
    assert len(users) == 97 and len(all_rows) == total == 25
    # The parent goes to the first department, each sub-order to one of the others, in the order given.
    for spec in data["orders"]:
        parent = by_title[spec["title"]]
        assert code_of[parent.executor_department_id] == spec["to"][0]
        kids = sorted((o for o in all_rows if o.parent_id == parent.id), key=lambda o: o.number)
        assert [o.number for o in kids] == [f"{parent.number}/{i}" for i in range(1, len(spec["to"]))]
        assert [code_of[o.executor_department_id] for o in kids] == spec["to"][1:]

    def expected_for(u_id: int, tg: int) -> set[int]:
        p = person[tg]
        role, dept = Role(p["role"]), codes[p["department"]]
        if role in (Role.CONTROLLER, Role.ADMIN):
            return {o.id for o in all_rows}
        if role == Role.EMPLOYEE:
            # Issuer, executor, own department addressed, or the department is a co-executor (has a sub-order).
            mine = {dept}
            return {
                o.id
                for o in all_rows
                if u_id in (o.issuer_id, o.executor_id)
                or o.executor_department_id in mine
                or mine & child_depts.get(o.id, set())
            }
        tree = {codes[c] for c in _subtree(parents, code_of[dept])}
        return {
            o.id
            for o in all_rows
            if u_id in (o.issuer_id, o.executor_id)
            or o.issuer_department_id in tree
            or o.executor_department_id in tree
            or tree & child_depts.get(o.id, set())
        }

    order_facts = {
        o.id: OrderFacts(
            state=State(o.state),
            issuer_id=o.issuer_id,
            issuer_department_id=o.issuer_department_id,
            executor_department_id=o.executor_department_id,
            executor_id=o.executor_id,
            controller_id=o.controller_id,
            child_department_ids=frozenset(child_depts.get(o.id, set())),
        )
        for o in all_rows
    }

    sizes = {}
    for u in users:
        a = await f.actor(uow, u.telegram_id)
        scope = scope_for(a)
        async with uow:
            in_sql = set((await uow.session.execute(select(Order.id).where(visible(scope)))).scalars())
        in_memory = {oid for oid, o in order_facts.items() if can_see(scope, o)}
        expected = expected_for(u.id, u.telegram_id)
        assert in_sql == expected, (u.full_name, a.role, sorted(in_sql ^ expected))
        assert in_memory == expected, (u.full_name, a.role, sorted(in_memory ^ expected))
        page = await list_orders(ctx, uow, a, OrderFilter(), 0, 100)
        assert {r.id for r in page.items} == expected and page.total == len(expected)
        sizes[u.telegram_id] = len(expected)

    # The matrix is not trivial: the head of the municipality sees everything, the forwarded order left PRESS.
    assert sizes[f.head_of(data, "GLAVA")] == total
    assert sizes[f.CONTROLLER_TG] == sizes[f.ADMIN_TG] == total
    assert sizes[f.head_of(data, "PRESS")] == 0
    assert 0 < sizes[staff_of("LAW")] < sizes[f.head_of(data, "LAW")] < total
    assert len(set(sizes.values())) > 5


async def test_invisible_orders_are_not_found(demo_uow: UnitOfWork) -> None:
    from bot.domain.errors import NotFound

    uow, ctx, data = demo_uow, f.make_ctx(), f.load_demo()
    await f.import_demo(uow, data)
    made = await f.create_demo_orders(ctx, uow, data)
    snow = next(m.card for m in made if "снега" in m.card.title)
    outsider = await f.actor(uow, f.first_with(data, "LAW", "employee"))
    with pytest.raises(NotFound):
        await orders.get_card(ctx, uow, outsider, order_id=snow.id)
    with pytest.raises(NotFound):
        await orders.get_card(ctx, uow, outsider, number=snow.number)
    with pytest.raises(NotFound):
        await orders.perform(ctx, uow, outsider, snow.id, Action.COMMENT, comment="?")
    roads = await f.actor(uow, f.first_with(data, "ROADS", "employee"))
    assert (await orders.get_card(ctx, uow, roads, number=snow.number.lower())).id == snow.id
