"""Repositories: queries in one place. They flush when they must but never commit (the unit of work does)."""

from __future__ import annotations

import time
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, case, exists, func, or_, select, true, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.domain.policy import Scope
from bot.domain.states import FINAL_STATES
from storage.models import Counter, Department, Invite, Order, OrderEvent, OutboxMessage, User

_FINAL = [s.value for s in FINAL_STATES]
_Child = aliased(Order, name="child")


class _Repo:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def add(self, obj: object) -> None:
        self.session.add(obj)


# The department tree changes rarely and is read by almost every update: one copy per database, re-read when
# this process changes a department (the unit of work says so) or after TREE_TTL seconds (other instances).
TREE_TTL = 30.0
_trees: weakref.WeakKeyDictionary[object, tuple[float, dict[int, Department]]] = weakref.WeakKeyDictionary()
_generations: weakref.WeakKeyDictionary[object, int] = weakref.WeakKeyDictionary()


def forget_departments(bind: object) -> None:
    _trees.pop(bind, None)
    # A read that started before this change must not put its older copy back.
    _generations[bind] = _generations.get(bind, 0) + 1


class DepartmentRepository(_Repo):
    async def tree(self) -> dict[int, Department]:
        """Every department by id, as detached read-only copies (change departments through `get`)."""
        bind = self.session.bind
        cached = _trees.get(bind) if bind is not None else None
        if cached is not None and time.monotonic() - cached[0] < TREE_TTL:
            return cached[1]
        generation = _generations.get(bind, 0) if bind is not None else 0
        rows = (await self.session.execute(select(Department))).scalars().all()
        tree = {}
        for d in rows:
            copy = Department(
                id=d.id,
                code=d.code,
                name=d.name,
                name_en=d.name_en,
                parent_id=d.parent_id,
                chat_id=d.chat_id,
                employees_can_accept=d.employees_can_accept,
            )
            tree[d.id] = copy
        if bind is not None and _generations.get(bind, 0) == generation:
            _trees[bind] = (time.monotonic(), tree)
        return tree

    async def cached(self, department_id: int | None) -> Department | None:
        return (await self.tree()).get(department_id) if department_id is not None else None

    async def get(self, department_id: int) -> Department | None:
        return await self.session.get(Department, department_id)

    async def by_code(self, code: str) -> Department | None:
        return (await self.session.execute(select(Department).where(Department.code == code))).scalar_one_or_none()

    async def by_chat(self, chat_id: int) -> Department | None:
        q = select(Department).where(Department.chat_id == chat_id)
        return (await self.session.execute(q)).scalar_one_or_none()

    async def all(self) -> Sequence[Department]:
        return (await self.session.execute(select(Department).order_by(Department.name))).scalars().all()

    async def many(self, ids: Iterable[int]) -> dict[int, Department]:
        ids = set(ids)
        if not ids:
            return {}
        rows = (await self.session.execute(select(Department).where(Department.id.in_(ids)))).scalars()
        return {d.id: d for d in rows}

    async def subtree(self, department_id: int) -> frozenset[int]:
        """The department and all below it (a walk over the cached tree)."""
        children: dict[int | None, list[int]] = {}
        for d in (await self.tree()).values():
            children.setdefault(d.parent_id, []).append(d.id)
        out, todo = {department_id}, [department_id]
        while todo:
            for child in children.get(todo.pop(), []):
                if child not in out:
                    out.add(child)
                    todo.append(child)
        return frozenset(out)


class UserRepository(_Repo):
    async def get(self, user_id: int) -> User | None:
        return await self.session.get(User, user_id)

    async def by_telegram_id(self, telegram_id: int) -> User | None:
        q = select(User).where(User.telegram_id == telegram_id)
        return (await self.session.execute(q)).scalar_one_or_none()

    async def many(self, ids: Iterable[int | None]) -> dict[int, User]:
        wanted = {i for i in ids if i is not None}
        if not wanted:
            return {}
        rows = (await self.session.execute(select(User).where(User.id.in_(wanted)))).scalars()
        return {u.id: u for u in rows}

    async def in_department(self, department_id: int, roles: Iterable[str] | None = None) -> Sequence[User]:
        q = select(User).where(User.department_id == department_id, User.status == "active")
        if roles is not None:
            q = q.where(User.role.in_(list(roles)))
        return (await self.session.execute(q.order_by(User.full_name))).scalars().all()

    async def with_role(self, role: str) -> Sequence[User]:
        q = select(User).where(User.role == role, User.status == "active").order_by(User.full_name)
        return (await self.session.execute(q)).scalars().all()

    async def pending(self) -> Sequence[User]:
        q = select(User).where(User.status == "pending").order_by(User.created_at)
        return (await self.session.execute(q)).scalars().all()


class InviteRepository(_Repo):
    async def by_token(self, token: str) -> Invite | None:
        return (await self.session.execute(select(Invite).where(Invite.token == token))).scalar_one_or_none()

    async def get(self, invite_id: int) -> Invite | None:
        return await self.session.get(Invite, invite_id)


@dataclass(frozen=True)
class OrderFilter:
    """A list query. `box`: inbox (addressed to me/my department), outbox (issued by me/my department),
    control (orders on control), all (everything visible)."""

    box: str = "all"
    state: str | None = None  # a State value, "open" or None for any
    overdue: bool = False
    priority: str | None = None
    text: str | None = None


def visible(scope: Scope) -> ColumnElement[bool]:
    """The visibility filter (bot.domain.policy.Scope) as SQL. Every list and lookup goes through it."""
    if scope.everything:
        return true()
    conds: list[ColumnElement[bool]] = [Order.issuer_id == scope.user_id, Order.executor_id == scope.user_id]
    if scope.departments:
        depts = list(scope.departments)
        conds.append(Order.executor_department_id.in_(depts))
        # The parent of a sub-order addressed there (a correlated EXISTS uses the parent_id index).
        conds.append(exists().where(_Child.parent_id == Order.id, _Child.executor_department_id.in_(depts)))
    if scope.issuing_departments:
        conds.append(Order.issuer_department_id.in_(list(scope.issuing_departments)))
    return or_(*conds)


def overdue_clause(now: datetime) -> ColumnElement[bool]:
    return and_(Order.due_at.is_not(None), Order.due_at < now, Order.state.not_in(_FINAL))


class OrderRepository(_Repo):
    async def get(self, order_id: int) -> Order | None:
        return await self.session.get(Order, order_id)

    async def get_visible(self, order_id: int, scope: Scope) -> Order | None:
        q = select(Order).where(Order.id == order_id, visible(scope))
        return (await self.session.execute(q)).scalar_one_or_none()

    async def by_number(self, number: str, scope: Scope) -> Order | None:
        # Numbers are stored upper-case (П-2026-000123); normalise here so the unique index is used.
        q = select(Order).where(Order.number == number.strip().upper(), visible(scope))
        return (await self.session.execute(q)).scalar_one_or_none()

    async def children(self, order_id: int) -> Sequence[Order]:
        q = select(Order).where(Order.parent_id == order_id).order_by(Order.id)
        return (await self.session.execute(q)).scalars().all()

    async def child_department_ids(self, order_id: int) -> frozenset[int]:
        q = select(Order.executor_department_id).where(Order.parent_id == order_id)
        return frozenset(d for d in (await self.session.execute(q)).scalars() if d is not None)

    def _box(self, f: OrderFilter, scope: Scope, department_id: int | None, manager: bool) -> ColumnElement[bool]:
        if f.box == "inbox":
            mine = [Order.executor_id == scope.user_id]
            if department_id is not None:
                mine.append(Order.executor_department_id == department_id)
            return or_(*mine)
        if f.box == "outbox":
            issued = [Order.issuer_id == scope.user_id]
            if manager and department_id is not None:
                issued.append(Order.issuer_department_id == department_id)
            return or_(*issued)
        if f.box == "control":
            return Order.controller_id.is_not(None)
        return true()

    def _where(
        self, f: OrderFilter, scope: Scope, now: datetime, department_id: int | None, manager: bool
    ) -> list[ColumnElement[bool]]:
        where = [visible(scope), self._box(f, scope, department_id, manager)]
        if f.state == "open":
            where.append(Order.state.not_in(_FINAL))
        elif f.state:
            where.append(Order.state == f.state)
        if f.overdue:
            where.append(overdue_clause(now))
        if f.priority:
            where.append(Order.priority == f.priority)
        if f.text:
            where.append(Order.search_text.contains(f.text.casefold(), autoescape=True))
        return where

    async def list(
        self,
        f: OrderFilter,
        scope: Scope,
        now: datetime,
        *,
        department_id: int | None,
        manager: bool,
        offset: int,
        limit: int,
    ) -> tuple[Sequence[Order], int]:
        where = self._where(f, scope, now, department_id, manager)
        total = (await self.session.execute(select(func.count()).select_from(Order).where(*where))).scalar_one()
        overdue_first = case((overdue_clause(now), 0), else_=1)
        finished_last = case((Order.state.in_(_FINAL), 1), else_=0)
        q = (
            select(Order)
            .where(*where)
            .order_by(overdue_first, finished_last, Order.due_at.is_(None), Order.due_at, Order.id.desc())
            .offset(offset)
            .limit(limit)
        )
        return (await self.session.execute(q)).scalars().all(), total

    async def next_number(self, prefix: str, year: int) -> str:
        """Atomic per-year sequence: П-2026-000123."""
        name = f"{prefix}-{year}"
        dialect = self.session.bind.dialect.name if self.session.bind else "sqlite"
        ins = (pg_insert if dialect == "postgresql" else sqlite_insert)(Counter).values(name=name, value=0)
        await self.session.execute(ins.on_conflict_do_nothing(index_elements=["name"]))
        value = (
            await self.session.execute(
                update(Counter).where(Counter.name == name).values(value=Counter.value + 1).returning(Counter.value)
            )
        ).scalar_one()
        return f"{name}-{value:06d}"


class EventRepository(_Repo):
    async def history(self, order_id: int) -> Sequence[OrderEvent]:
        q = select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(OrderEvent.id)
        return (await self.session.execute(q)).scalars().all()


class OutboxRepository(_Repo):
    written: int = 0

    def add(self, obj: object) -> None:
        self.session.add(obj)
        self.written += 1

    async def due(self, now: datetime, limit: int) -> Sequence[OutboxMessage]:
        """Rows to deliver now, oldest first; a chat's row waits while an older one of that chat is pending
        (e.g. rescheduled after 429), so each chat gets its messages in order."""
        earlier = aliased(OutboxMessage)
        older_pending = exists().where(
            earlier.recipient == OutboxMessage.recipient, earlier.status == "pending", earlier.id < OutboxMessage.id
        )
        q = (
            select(OutboxMessage)
            .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now, ~older_pending)
            .order_by(OutboxMessage.id)
            .limit(limit)
        )
        return (await self.session.execute(q)).scalars().all()
