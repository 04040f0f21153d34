"""Shared fixtures: the demo organisation, the Bot API emulator and the bot running against it by polling."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bot.app import App, make_bot, setup_dispatcher
from bot.clock import FrozenClock
from bot.config import Settings
from bot.runner import run_bot
from bot.services.orgimport import import_org
from storage.migrate import upgrade_async
from storage.uow import UnitOfWork
from tests.emulator import SimGroup, SimUser, TelegramEmulator
from tests.emulator.fixtures import emulator  # noqa: F401  (re-exported fixture)

DEMO_PATH = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "municipality_demo.json"
if not DEMO_PATH.exists():  # a clean clone has shared/ beside it; the repo keeps a copy for other layouts
    DEMO_PATH = Path(__file__).resolve().parent / "data" / "municipality_demo.json"

# Saturday 28 November 2026, 12:00 in Moscow.
T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def demo() -> dict[str, Any]:
    return json.loads(DEMO_PATH.read_text(encoding="utf-8"))


@dataclass
class BotEnv:
    emu: TelegramEmulator
    app: App
    clock: FrozenClock
    settings: Settings
    demo: dict[str, Any]

    def person(self, tg_id: int, language_code: str = "ru") -> SimUser:
        who = next(e for e in self.demo["employees"] if e["telegram_id"] == tg_id)
        last, first, *_ = who["full_name"].split() + ["", ""]
        return self.emu.user(tg_id, first_name=first, last_name=last, language_code=language_code)

    async def started(self, tg_id: int, language_code: str = "ru") -> SimUser:
        """A demo employee who opened the private chat with the bot."""
        user = self.person(tg_id, language_code)
        await user.send_text("/start")
        await self.idle()
        return user

    def head_of(self, code: str, role: str = "head") -> int:
        return next(e["telegram_id"] for e in self.demo["employees"] if e["department"] == code and e["role"] == role)

    def staff_of(self, code: str) -> list[int]:
        return [e["telegram_id"] for e in self.demo["employees"] if e["department"] == code and e["role"] == "employee"]

    async def idle(self, timeout: float = 10.0) -> None:
        await self.emu.wait_idle(timeout=timeout)

    def last(self, chat_id: int) -> Any:
        msg = self.emu.last_bot_message(chat_id)
        assert msg is not None, f"the bot sent nothing to {chat_id}"
        return msg

    def texts(self, chat_id: int) -> list[str]:
        return [m.content for m in self.emu.bot_messages(chat_id)]

    async def group(self, chat_id: int, title: str, members: list[SimUser]) -> SimGroup:
        return self.emu.group(chat_id, title=title, members=members)


@pytest_asyncio.fixture
async def bot_env(emulator: TelegramEmulator, tmp_path: Path, demo: dict[str, Any]) -> AsyncIterator[BotEnv]:  # noqa: F811
    """The real bot (dispatcher, middlewares, sender, DB on SQLite) polling the emulator over HTTP."""
    settings = Settings(
        _env_file=None,
        bot_token=emulator.token,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'e2e.db'}",
        telegram_api_url=emulator.base_url,
        outbox_poll_interval=0.2,
        redis_url="",
    )
    clock = FrozenClock(T0)
    await upgrade_async(settings.database_url)
    app = setup_dispatcher(settings, clock=clock)
    await import_org(UnitOfWork(app.session_factory), demo)
    bot = make_bot(settings)
    task = asyncio.create_task(run_bot(settings, clock=clock, bot=bot, handle_signals=False, migrate=False, app=app))
    env = BotEnv(emulator, app, clock, settings, demo)
    await env.idle()
    try:
        yield env
        await env.idle()
    finally:
        with contextlib.suppress(RuntimeError):
            await app.dispatcher.stop_polling()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=10)
