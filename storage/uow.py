"""The unit of work: the only thing that commits. Leaving it without commit rolls back.

A UnitOfWork object is cheap: each `async with uow:` opens a fresh session and transaction. Use one object
per task (it holds the open session). `uow.reading()` gives a read-only one for queries.

SQLite has one writer at a time, and a transaction that read first and writes later fails at once if another
connection committed in between (WAL snapshots are not upgraded). So in one process the writing units of work
on SQLite take turns on a lock, taken before their first read; reading ones never wait for it.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from types import TracebackType
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import Department
from storage.repositories import (
    DepartmentRepository,
    EventRepository,
    InviteRepository,
    OrderRepository,
    OutboxRepository,
    UserRepository,
    forget_departments,
)

_sqlite_locks: weakref.WeakKeyDictionary[object, asyncio.Lock] = weakref.WeakKeyDictionary()


def _lock_for(factory: async_sessionmaker[AsyncSession]) -> asyncio.Lock | None:
    bind = factory.kw.get("bind")
    if bind is None or bind.dialect.name != "sqlite":
        return None
    lock = _sqlite_locks.get(bind)
    if lock is None:
        lock = _sqlite_locks[bind] = asyncio.Lock()
    return lock


class UnitOfWork:
    session: AsyncSession
    departments: DepartmentRepository
    users: UserRepository
    invites: InviteRepository
    orders: OrderRepository
    events: EventRepository
    outbox: OutboxRepository

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        on_outbox: Callable[[], None] | None = None,
        *,
        readonly: bool = False,
    ) -> None:
        self._factory = session_factory
        self._readonly = readonly
        self._lock = None if readonly else _lock_for(session_factory)
        # Called after a commit that wrote notifications, to wake the sender without polling delay.
        self._on_outbox = on_outbox

    def reading(self) -> UnitOfWork:
        """A read-only unit of work on the same database (no commit, never waits for writers)."""
        return UnitOfWork(self._factory, readonly=True)

    def fresh(self) -> UnitOfWork:
        """Another unit of work like this one, for a concurrent task."""
        return UnitOfWork(self._factory, self._on_outbox, readonly=self._readonly)

    async def __aenter__(self) -> UnitOfWork:
        if self._lock is not None:
            await self._lock.acquire()
        self.session = self._factory()
        self._departments_changed = False
        if not self._readonly:
            event.listen(self.session.sync_session, "after_flush", self._note_flush)
        if self._readonly:
            # Changes made to objects here (a service working out an effect) must never reach the database.
            self.session.autoflush = False
        self.departments = DepartmentRepository(self.session)
        self.users = UserRepository(self.session)
        self.invites = InviteRepository(self.session)
        self.orders = OrderRepository(self.session)
        self.events = EventRepository(self.session)
        self.outbox = OutboxRepository(self.session)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            await self.session.rollback()
            await self.session.close()
        finally:
            if self._lock is not None:
                self._lock.release()

    async def commit(self) -> None:
        if self._readonly:
            raise RuntimeError("a read-only unit of work cannot commit")
        await self.session.commit()  # flushes what is left, which _note_flush sees
        if self._departments_changed:
            forget_departments(self.session.bind)
        if self.outbox.written and self._on_outbox is not None:
            self._on_outbox()
        self.outbox.written = 0

    def _note_flush(self, session: Any, _context: Any) -> None:
        changed = session.new | session.dirty | session.deleted
        if any(isinstance(obj, Department) for obj in changed):
            self._departments_changed = True

    async def flush(self) -> None:
        await self.session.flush()
