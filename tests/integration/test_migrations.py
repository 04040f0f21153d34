"""Alembic: upgrade → downgrade → upgrade on SQLite and PostgreSQL, and the migrations match the models."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.services.context import AppContext
from bot.services.orgimport import import_org
from storage.db import make_engine, make_session_factory
from storage.migrate import downgrade, upgrade, upgrade_async
from storage.models import Base, User
from storage.uow import UnitOfWork
from tests import factories as f
from tests.integration.conftest import table_names

TABLES = {
    "departments",
    "users",
    "invites",
    "orders",
    "order_events",
    "attachments",
    "outbox",
    "dialog_states",
    "counters",
    "alembic_version",
}


async def _schema_diff(url: str) -> list[Any]:
    eng: AsyncEngine = make_engine(url)
    try:
        async with eng.connect() as conn:
            return await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c, opts={"compare_type": False}), Base.metadata)
            )
    finally:
        await eng.dispose()


async def test_upgrade_downgrade_upgrade(db_url: str, ctx: AppContext) -> None:
    assert await asyncio.to_thread(table_names, db_url) == TABLES
    await asyncio.to_thread(downgrade, db_url, "base")
    assert await asyncio.to_thread(table_names, db_url) <= {"alembic_version"}
    await upgrade_async(db_url)
    assert await asyncio.to_thread(table_names, db_url) == TABLES
    await asyncio.to_thread(upgrade, db_url)  # already at head: a no-op

    # The migrated schema works with the real services.
    engine = make_engine(db_url)
    try:
        uow = UnitOfWork(make_session_factory(engine))
        await import_org(uow, f.load_demo())
        assert await f.count(uow, User) == 97
    finally:
        await engine.dispose()


async def test_migrations_match_the_models(db_url: str) -> None:
    """Nothing for autogenerate to add: every table, column, index and constraint of the models is migrated."""
    assert await _schema_diff(db_url) == []
