"""aiogram FSM storage in the database, so a dialog in progress (a half-made order) survives a restart."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, KeyBuilder, StateType, StorageKey
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import DialogState, utcnow
from storage.uow import UnitOfWork


class DatabaseStorage(BaseStorage):
    def __init__(self, session_factory: async_sessionmaker[AsyncSession], key_builder: KeyBuilder | None = None):
        self._factory = session_factory
        # with_destiny: a side dialog (a reason being typed) lives beside a half-made order.
        self._keys = key_builder or DefaultKeyBuilder(with_destiny=True)

    async def _update(self, key: StorageKey, **values: Any) -> None:
        k = self._keys.build(key)
        async with UnitOfWork(self._factory) as uow:
            row = await uow.session.get(DialogState, k)
            if row is None:
                row = DialogState(key=k, state=None, data={})
                for name, value in values.items():
                    setattr(row, name, value)
                if row.state is None and not row.data:
                    return  # nothing to remember
                uow.session.add(row)
            else:
                for name, value in values.items():
                    setattr(row, name, value)
                if row.state is None and not row.data:
                    await uow.session.delete(row)
            row.updated_at = utcnow()
            await uow.commit()

    async def _row(self, key: StorageKey) -> tuple[str | None, dict[str, Any]]:
        async with UnitOfWork(self._factory, readonly=True) as uow:
            row = await uow.session.get(DialogState, self._keys.build(key))
            return (row.state, dict(row.data or {})) if row else (None, {})

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
