"""aiogram FSM storage in the database, so a dialog in progress (a half-made order) survives a restart.

Every update asks for the dialog state and most never change it, so reads are served from a process-local
copy. Changes go to that copy at once and to the database right after, batched: all changes made while the
previous batch was being written go out in one transaction (a dialog step often sets data and state in a
row; under load many users' steps share one write). `close()` (on shutdown) waits for the last batch.
This is right for one bot process, which is what the database storage is for; several instances share
dialog state through Redis (REDIS_URL).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, KeyBuilder, StateType, StorageKey
from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import DialogState, utcnow
from storage.uow import UnitOfWork

log = logging.getLogger(__name__)

CACHE_SIZE = 10_000
CLOSE_TIMEOUT = 10.0
Entry = tuple[str | None, dict[str, Any]]


class DatabaseStorage(BaseStorage):
    def __init__(self, session_factory: async_sessionmaker[AsyncSession], key_builder: KeyBuilder | None = None):
        self._factory = session_factory
        # with_destiny: a side dialog (a reason being typed) lives beside a half-made order.
        self._keys = key_builder or DefaultKeyBuilder(with_destiny=True)
        self._cache: OrderedDict[str, Entry] = OrderedDict()
        self._dirty: dict[str, Entry] = {}  # changed, not written yet
        self._inflight: dict[str, Entry] = {}  # being written now
        self._writer: asyncio.Task[None] | None = None

    def _remember(self, k: str, entry: Entry) -> None:
        self._cache[k] = entry
        self._cache.move_to_end(k)
        while len(self._cache) > CACHE_SIZE:
            oldest = next(iter(self._cache))
            if oldest in self._dirty or oldest in self._inflight:
                break  # never forget what is not written yet
            self._cache.popitem(last=False)

    async def _row(self, key: StorageKey) -> Entry:
        k = self._keys.build(key)
        pending = self._dirty.get(k) or self._inflight.get(k)
        if k not in self._cache and pending is not None:
            self._remember(k, pending)
        if k not in self._cache:
            async with UnitOfWork(self._factory, readonly=True) as uow:
                row = await uow.session.get(DialogState, k)
                entry = (row.state, dict(row.data or {})) if row else (None, {})
            if k not in self._cache:  # a change made while we were reading wins
                self._remember(k, self._dirty.get(k) or self._inflight.get(k) or entry)
        state, data = self._cache[k]
        return state, dict(data)

    async def _update(self, key: StorageKey, **values: Any) -> None:
        current = await self._row(key)
        entry = (values.get("state", current[0]), dict(values.get("data", current[1])))
        if entry == current:
            return  # e.g. clear() of a dialog that is not open: nothing to write
        k = self._keys.build(key)
        self._remember(k, entry)
        self._dirty[k] = entry
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())

    async def _write(self) -> None:
        while self._dirty:
            batch, self._dirty = self._dirty, {}
            self._inflight.update(batch)
            try:
                await self._write_batch(batch)
            except Exception:
                # One bad entry must not block everybody's dialogs: write them one by one, drop what fails.
                log.exception("could not save %d dialog state(s) together; saving them one by one", len(batch))
                for k, entry in batch.items():
                    try:
                        await self._write_batch({k: entry})
                    except Exception:
                        log.exception("dropped the dialog state of %s", k)
            finally:
                for k, entry in batch.items():
                    if self._inflight.get(k) is entry:
                        del self._inflight[k]

    async def _write_batch(self, batch: dict[str, Entry]) -> None:
        """Two statements whatever the batch size: an upsert of the open dialogs, a delete of the closed."""
        now = utcnow()
        gone = [k for k, (state, data) in batch.items() if state is None and not data]
        kept = [{"key": k, "state": s, "data": d, "updated_at": now} for k, (s, d) in batch.items() if k not in gone]
        async with UnitOfWork(self._factory) as uow:
            if gone:
                await uow.session.execute(delete(DialogState).where(DialogState.key.in_(gone)))
            if kept:
                insert = (
                    pg_insert if uow.session.bind and uow.session.bind.dialect.name == "postgresql" else sqlite_insert
                )
                stmt = insert(DialogState).values(kept)
                await uow.session.execute(
                    stmt.on_conflict_do_update(
                        index_elements=[DialogState.key],
                        set_={"state": stmt.excluded.state, "data": stmt.excluded.data, "updated_at": now},
                    )
                )
            await uow.commit()

    async def wait_written(self) -> None:
        """Until every change so far is in the database."""
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        await self._update(key, state=state.state if isinstance(state, State) else state)

    async def get_state(self, key: StorageKey) -> str | None:
        return (await self._row(key))[0]

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        await self._update(key, data=dict(data))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        return (await self._row(key))[1]

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self.wait_written(), CLOSE_TIMEOUT)
        except TimeoutError:
            log.error("dialog states not saved before shutdown: %d", len(self._dirty) + len(self._inflight))
