"""Random actors doing random actions on one order through the real services on SQLite: the history, the state and
the version stay consistent with the transition table whatever happens."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from sqlalchemy import func, select
from sqlalchemy.pool import StaticPool

from bot.domain.errors import DomainError, NotFound
from bot.domain.policy import Actor
from bot.domain.states import Action, State
from bot.services import orders
from bot.services.dto import AttachmentInfo
from bot.services.orgimport import import_org
from storage.db import make_engine, make_session_factory
from storage.models import Order, OrderEvent, OutboxMessage
from storage.uow import UnitOfWork
from tests import factories as f

S = State
# Written from DOMAIN.md, independently of bot.domain.states.TRANSITIONS.
MOVES: dict[Action, dict[State, State]] = {
    Action.ACCEPT: {S.NEW: S.IN_PROGRESS},
    Action.ASSIGN: {S.IN_PROGRESS: S.IN_PROGRESS},
    Action.FORWARD: {S.NEW: S.NEW, S.IN_PROGRESS: S.NEW, S.DECLINED: S.NEW},
    Action.DECLINE: {S.NEW: S.DECLINED},
    Action.REPORT: {S.IN_PROGRESS: S.ON_REVIEW},
    Action.RETURN: {S.ON_REVIEW: S.IN_PROGRESS},
    Action.CLOSE: {S.ON_REVIEW: S.DONE},
    Action.CANCEL: {S.NEW: S.CANCELLED, S.IN_PROGRESS: S.CANCELLED, S.ON_REVIEW: S.CANCELLED, S.DECLINED: S.CANCELLED},
    Action.COMMENT: {S.NEW: S.NEW, S.IN_PROGRESS: S.IN_PROGRESS, S.ON_REVIEW: S.ON_REVIEW, S.DECLINED: S.DECLINED},
    Action.REQUEST_EXTENSION: {S.NEW: S.NEW, S.IN_PROGRESS: S.IN_PROGRESS},
    Action.GRANT_EXTENSION: {S.NEW: S.NEW, S.IN_PROGRESS: S.IN_PROGRESS, S.ON_REVIEW: S.ON_REVIEW},
    Action.DENY_EXTENSION: {S.NEW: S.NEW, S.IN_PROGRESS: S.IN_PROGRESS, S.ON_REVIEW: S.ON_REVIEW},
}
FINAL = {S.DONE, S.CANCELLED}


def _reachable() -> set[State]:
    seen, todo = {S.NEW}, [S.NEW]
    while todo:
        s = todo.pop()
        for moves in MOVES.values():
            if s in moves and moves[s] not in seen:
                seen.add(moves[s])
                todo.append(moves[s])
    return seen


REACHABLE = _reachable()

ORG = {
    "departments": [
        {"code": "ISS", "name": "Выдающий отдел"},
        {"code": "EXE", "name": "Исполняющий отдел"},
        {"code": "EXE2", "name": "Другой исполнитель"},
        {"code": "CTRL", "name": "Контроль"},
    ],
    "employees": [
        {"telegram_id": 1, "full_name": "Issuer", "department": "ISS", "role": "head"},
        {"telegram_id": 2, "full_name": "Issuer deputy", "department": "ISS", "role": "deputy"},
        {"telegram_id": 3, "full_name": "Exec head", "department": "EXE", "role": "head"},
        {"telegram_id": 4, "full_name": "Exec deputy", "department": "EXE", "role": "deputy"},
        {"telegram_id": 5, "full_name": "Exec employee A", "department": "EXE", "role": "employee"},
        {"telegram_id": 6, "full_name": "Exec employee B", "department": "EXE", "role": "employee"},
        {"telegram_id": 7, "full_name": "Exec2 head", "department": "EXE2", "role": "head"},
        {"telegram_id": 8, "full_name": "Exec2 employee", "department": "EXE2", "role": "employee"},
        {"telegram_id": 9, "full_name": "Controller", "department": "CTRL", "role": "controller"},
        {"telegram_id": 10, "full_name": "Admin", "department": "CTRL", "role": "admin"},
    ],
}
TELEGRAM_IDS = [e["telegram_id"] for e in ORG["employees"]]
# Who would usually try an action; random actors alone almost never get anything through.
_EXEC_SIDE, _APPROVERS = [3, 4, 5, 6, 7], [1, 2, 9]
LIKELY: dict[Action, list[int]] = {
    Action.ACCEPT: [3, 4, 3, 4, 5],
    Action.ASSIGN: _EXEC_SIDE,
    Action.FORWARD: [*_EXEC_SIDE, 1],
    Action.DECLINE: _EXEC_SIDE,
    Action.REPORT: _EXEC_SIDE,
    Action.RETURN: _APPROVERS,
    Action.CLOSE: _APPROVERS,
    Action.CANCEL: [1, 2, 3],
    Action.COMMENT: TELEGRAM_IDS,
    Action.REQUEST_EXTENSION: _EXEC_SIDE,
    Action.GRANT_EXTENSION: _APPROVERS,
    Action.DENY_EXTENSION: _APPROVERS,
}
# Cancelling, declining and closing end (or stall) the run; keep them rarer so that the whole lifecycle is explored.
WEIGHTS = {Action.CANCEL: 1, Action.DECLINE: 1, Action.CLOSE: 2, Action.ACCEPT: 5, Action.REPORT: 5, Action.RETURN: 4}
ACTIONS = [a for a in Action for _ in range(WEIGHTS.get(a, 2))]


def mostly(p: int) -> st.SearchStrategy[bool]:
    """True in about p out of 10 draws."""
    return st.integers(0, 9).map(lambda x: x < p)


class OrderLifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.engine = make_engine("sqlite+aiosqlite://", poolclass=StaticPool)
        self.uow = UnitOfWork(make_session_factory(self.engine))
        self.ctx = f.make_ctx()
        self.actors: dict[int, Actor] = {}
        self.users: dict[int, int] = {}  # telegram id -> user id
        self.depts: dict[str, int] = {}
        self.order_id = 0
        self.model_state = S.NEW
        self.successes = 0
        self.checked_final = False
        self.log: list[str] = []

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        try:
            self.run(self.engine.dispose())
        finally:
            self.loop.close()

    async def _snapshot(self) -> tuple[str, int, int, int, int | None, int | None]:
        async with self.uow as uow:
            order = await uow.session.get(Order, self.order_id)
            assert order is not None
            events = (
                await uow.session.execute(
                    select(func.count()).select_from(OrderEvent).where(OrderEvent.order_id == self.order_id)
                )
            ).scalar_one()
            outbox = (await uow.session.execute(select(func.count()).select_from(OutboxMessage))).scalar_one()
            return order.state, order.version, events, outbox, order.executor_department_id, order.executor_id

    @initialize(on_control=st.booleans())
    def create(self, on_control: bool) -> None:
        async def setup() -> None:
            await f.create_schema(self.engine)
            await import_org(self.uow, ORG)
            for tg in TELEGRAM_IDS:
                self.actors[tg] = await f.actor(self.uow, tg)
                self.users[tg] = self.actors[tg].user_id
            await f.mark_started(self.ctx, self.uow, *TELEGRAM_IDS[::2])
            self.depts = await f.dept_ids(self.uow)
            card = await orders.create_order(
                self.ctx,
                self.uow,
                self.actors[1],
                f.draft([self.depts["EXE"]], ctx=self.ctx, controller_id=self.users[9] if on_control else None),
            )
            self.order_id = card.id

        self.run(setup())

    @rule(
        action=st.sampled_from(ACTIONS),
        anyone=mostly(2),
        pick=st.integers(0, 99),
        executor=st.sampled_from([None, 5, 6, 5, 3, 8]),
        to_dept=st.sampled_from(["EXE", "EXE2", "ISS"]),
        with_text=mostly(9),
        with_files=st.booleans(),
        stale=mostly(1),
        extra_days=st.integers(-2, 10),
    )
    def act(
        self,
        action: Action,
        anyone: bool,
        pick: int,
        executor: int | None,
        to_dept: str,
        with_text: bool,
        with_files: bool,
        stale: bool,
        extra_days: int,
    ) -> None:
        # Time moves on between clicks (with a standing clock an action that changes no column, such as a
        # comment, would not bump the version).
        self.ctx.clock.advance(timedelta(minutes=1))  # type: ignore[attr-defined]
        pool = TELEGRAM_IDS if anyone else LIKELY[action]
        who = pool[pick % len(pool)]
        before = self.run(self._snapshot())
        state_before = S(before[0])
        assert state_before == self.model_state
        try:
            card = self.run(
                orders.perform(
                    self.ctx,
                    self.uow,
                    self.actors[who],
                    self.order_id,
                    action,
                    version=before[1] - 1 if stale else before[1],
                    comment="Комментарий" if with_text else None,
                    executor_id=self.users[executor] if executor is not None else None,
                    department_id=self.depts[to_dept],
                    new_due=self.ctx.clock.now() + timedelta(days=5 + extra_days),
                    files=[AttachmentInfo("document", "file-1", "a.pdf")] if with_files else (),
                )
            )
        except DomainError as e:
            after = self.run(self._snapshot())
            assert after == before, f"refused {action} by {who} ({type(e).__name__}) changed the order"
            self.log.append(f"{who} {action} refused: {type(e).__name__}")
            return
        assert not stale, "a stale version was accepted"
        assert state_before not in FINAL, f"{action} succeeded on a finished order"
        assert state_before in MOVES[action], f"{action} succeeded in {state_before}"
        self.model_state = MOVES[action][state_before]
        self.successes += 1
        self.log.append(f"{who} {action} -> {self.model_state}")
        event(f"succeeded: {action}")
        after = self.run(self._snapshot())
        assert card.state == self.model_state == S(after[0])
        assert after[1] == before[1] + 1 == card.version
        assert after[2] == before[2] + 1

    @invariant()
    def history_matches_successes(self) -> None:
        if not self.order_id:
            return
        state, _version, events, _outbox, _dept, _executor = self.run(self._snapshot())
        assert events == 1 + self.successes, self.log
        assert S(state) in REACHABLE
        assert S(state) == self.model_state, self.log

    @invariant()
    def finished_orders_offer_no_actions(self) -> None:
        if not self.order_id or self.model_state not in FINAL or self.checked_final:
            return
        self.checked_final = True  # nothing can change any more (the act rule asserts that), so check once
        for a in self.actors.values():
            try:
                card = self.run(orders.get_card(self.ctx, self.uow, a, order_id=self.order_id))
            except NotFound:
                continue
            assert card.actions == (), (a, card.actions)


OrderLifecycle.TestCase.settings = settings(
    max_examples=30,
    stateful_step_count=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestOrderLifecycle = OrderLifecycle.TestCase
