"""DatabaseStorage: a dialog in progress survives a restart (a new storage instance on the same database)."""

from __future__ import annotations

from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.base import StorageKey
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.db import make_engine, make_session_factory
from storage.fsm import DatabaseStorage
from storage.models import DialogState
from storage.uow import UnitOfWork
from tests import factories as f


class NewOrder(StatesGroup):
    text = State()
    deadline = State()


KEY = StorageKey(bot_id=42, chat_id=100000001, user_id=100000001)
OTHER = StorageKey(bot_id=42, chat_id=-1001, user_id=100000001)


async def test_state_and_data_persist_across_storage_instances(
    db_url: str, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    first = DatabaseStorage(session_factory)
    assert await first.get_state(KEY) is None
    assert await first.get_data(KEY) == {}
    await first.set_state(KEY, NewOrder.deadline)
    await first.set_data(KEY, {"text": "Убрать снег", "departments": [3, 5], "nested": {"a": 1}})
    await first.close()

    engine = make_engine(db_url)  # as after a restart: a new engine, a new storage
    try:
        second = DatabaseStorage(make_session_factory(engine))
        assert await second.get_state(KEY) == NewOrder.deadline.state == "NewOrder:deadline"
        assert await second.get_data(KEY) == {"text": "Убрать снег", "departments": [3, 5], "nested": {"a": 1}}
        assert await second.get_state(OTHER) is None  # another chat is another dialog
        await second.set_state(KEY, "raw:state")
        assert await second.get_state(KEY) == "raw:state"
        # Changes reach the database right after (a third instance, as after another restart, sees them).
        await second.wait_written()
        assert await DatabaseStorage(session_factory).get_state(KEY) == "raw:state"
        # Finishing the dialog forgets it entirely.
        await second.set_state(KEY, None)
        await second.set_data(KEY, {})
        assert await second.get_state(KEY) is None and await second.get_data(KEY) == {}
        await second.close()
        third = DatabaseStorage(session_factory)
        assert await third.get_state(KEY) is None and await third.get_data(KEY) == {}
    finally:
        await engine.dispose()
    assert await f.count(UnitOfWork(session_factory), DialogState) == 0


async def test_data_without_state_and_update_helpers(session_factory: async_sessionmaker[AsyncSession]) -> None:
    storage = DatabaseStorage(session_factory)
    await storage.set_data(KEY, {"step": 1})
    assert await storage.get_state(KEY) is None
    assert await storage.update_data(KEY, {"step": 2, "more": True}) == {"step": 2, "more": True}
    assert await storage.get_data(KEY) == {"step": 2, "more": True}
    # Setting nothing on an unknown key stores nothing.
    await storage.set_state(OTHER, None)
    await storage.wait_written()
    assert await f.count(UnitOfWork(session_factory), DialogState) == 1


async def test_data_handed_out_cannot_change_the_stored_dialog(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    storage = DatabaseStorage(session_factory)
    await storage.set_data(KEY, {"files": [1]})
    got = await storage.get_data(KEY)
    got["files"] = [1, 2]
    assert await storage.get_data(KEY) == {"files": [1]}


async def test_one_unsavable_dialog_does_not_block_the_others(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    storage = DatabaseStorage(session_factory)
    await storage.set_data(KEY, {"when": object()})  # cannot be stored as JSON
    await storage.set_data(OTHER, {"step": 1})
    await storage.close()  # returns: the bad entry is dropped (and logged), the good one is saved
    assert await DatabaseStorage(session_factory).get_data(OTHER) == {"step": 1}
