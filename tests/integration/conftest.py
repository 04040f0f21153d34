"""The real unit of work on SQLite (a temporary file) and, when TEST_DATABASE_URL is set, on PostgreSQL.

The schema always comes from the Alembic migrations. PostgreSQL is reset per test (downgrade to base, upgrade).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.services.context import AppContext
from storage.db import make_engine, make_session_factory
from storage.migrate import downgrade, upgrade
from storage.uow import UnitOfWork
from tests import factories as f

PG_URL = os.environ.get("TEST_DATABASE_URL", "")


def _run(coro_fn: Callable[[AsyncEngine], Any], url: str) -> Any:
    """Run `coro_fn(engine)` on a throwaway engine in a private event loop (for sync fixtures and helpers)."""

    async def go() -> Any:
        eng = make_engine(url)
        try:
            return await coro_fn(eng)
        finally:
            await eng.dispose()

    return asyncio.run(go())


def _reset_postgres(url: str) -> None:
    """Back to an empty schema. If something other than our migrations left tables behind, drop the schema."""
    try:
        downgrade(url, "base")
    except Exception:
        pass
    if table_names(url) - {"alembic_version"}:

        async def drop(eng: AsyncEngine) -> None:
            async with eng.begin() as conn:
                await conn.execute(text("DROP SCHEMA public CASCADE"))
                await conn.execute(text("CREATE SCHEMA public"))

        _run(drop, url)


def table_names(url: str) -> set[str]:
    async def go(eng: AsyncEngine) -> set[str]:
        async with eng.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))

    return _run(go, url)


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param(
            "postgresql",
            marks=[
                pytest.mark.postgres,
                pytest.mark.skipif(not PG_URL, reason="TEST_DATABASE_URL is not set"),
            ],
        ),
    ]
)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database (sync fixture: Alembic runs its own event loop)."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        upgrade(url)
        yield url
        return
    _reset_postgres(PG_URL)
    upgrade(PG_URL)
    yield PG_URL
    downgrade(PG_URL, "base")


@pytest.fixture
def backend(db_url: str) -> str:
    return make_url(db_url).get_backend_name()


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    eng = make_engine(db_url)
    yield eng
    await eng.dispose()


@pytest.fixture
def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return make_session_factory(engine)


@pytest.fixture
def uow(session_factory: async_sessionmaker[AsyncSession]) -> UnitOfWork:
    return UnitOfWork(session_factory)


@pytest.fixture
def new_uow(session_factory: async_sessionmaker[AsyncSession]) -> Callable[[], UnitOfWork]:
    """A separate unit of work per concurrent caller (as one per update in the bot)."""
    return lambda: UnitOfWork(session_factory)


@pytest.fixture
def ctx() -> AppContext:
    return f.make_ctx()


@pytest.fixture
async def demo(uow: UnitOfWork) -> dict:
    """The demo organisation imported (no orders yet); returns the demo data."""
    data = f.load_demo()
    await f.import_demo(uow, data)
    return data
