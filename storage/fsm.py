"""aiogram FSM storage in the database, so a dialog in progress (a half-made order) survives a restart.

Reads are served from a process-local copy (every update asks for the state, most never change it); writes go
to the database at once. That is right for one bot process, which is what the database storage is for:
several instances share dialog state through Redis (REDIS_URL).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, KeyBuilder, StateType, StorageKey
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import DialogState, utcnow
from storage.uow import UnitOfWork

CACHE_SIZE = 10_000


class DatabaseStorage(BaseStorage):
    def __init__(self, session_factory: async_sessionmaker[AsyncSession], key_builder: KeyBuilder | None = None):
        self._factory = session_factory
        # with_destiny: a side dialog (a reason being typed) lives beside a half-made order.
        self._keys = key_builder or DefaultKeyBuilder(with_destiny=True)
        self._cache: OrderedDict[str, tuple[str | None, dict[str, Any]]] = OrderedDict()

    def _remember(self, k: str, state: str | None, data: dict[str, Any]) -> None:
        self._cache[k] = (state, data)
        self._cache.move_to_end(k)
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)

    async def _update(self, key: StorageKey, **values: Any) -> None:
        k = self._keys.build(key)
        cached = self._cache.get(k)
        if cached is not None:
            new = (values.get("state", cached[0]), values.get("data", cached[1]))
            if new == cached:
                return  # e.g. clear() of a dialog that is not open: no write
        self._cache.pop(k, None)  # re-read after the write (also if the write fails)
        async with UnitOfWork(self._factory) as uow:
            row = await uow.session.get(DialogState, k)
            if row is None:
                row = DialogState(key=k, state=None, data={})
                for name, value in values.items():
                    setattr(row, name, value)
                if row.state is None and not row.data:
                    self._remember(k, None, {})
                    return  # nothing to remember
                uow.session.add(row)
            else:
                for name, value in values.items():
                    setattr(row, name, value)
                if row.state is None and not row.data:
                    await uow.session.delete(row)
            row.updated_at = utcnow()
            final = (row.state, dict(row.data or {}))
            await uow.commit()
        self._remember(k, *final)

    async def _row(self, key: StorageKey) -> tuple[str | None, dict[str, Any]]:
        k = self._keys.build(key)
        if k not in self._cache:
            async with UnitOfWork(self._factory, readonly=True) as uow:
                row = await uow.session.get(DialogState, k)
                self._remember(k, *((row.state, dict(row.data or {})) if row else (None, {})))
        state, data = self._cache[k]
        return state, dict(data)

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        await self._update(key, state=state.state if isinstance(state, State) else state)

    async def get_state(self, key: StorageKey) -> str | None:
        return (await self._row(key))[0]

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        await self._update(key, data=dict(data))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        return (await self._row(key))[1]

    async def close(self) -> None:
        pass
