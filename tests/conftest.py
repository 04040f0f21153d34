"""Shared fixtures: the demo organisation, the Bot API emulator and the bot running against it by polling."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from bot.app import App, make_bot, setup_dispatcher
from bot.clock import FrozenClock
from bot.config import Settings, WebhookSettings
from bot.domain.policy import Actor
from bot.domain.states import Action
from bot.runner import run_bot
from bot.services.dto import Draft, OrderCard
from bot.services.orders import create_order, perform
from bot.services.orgimport import import_org
from bot.services.users import get_user
from storage.migrate import downgrade, upgrade_async
from storage.uow import UnitOfWork
from tests.emulator import SimGroup, SimUser, TelegramEmulator
from tests.emulator.fixtures import emulator  # noqa: F401  (re-exported fixture)
from tests.factories import DEMO_PATH

# Saturday 28 November 2026, 12:00 in Moscow.
T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def demo() -> dict[str, Any]:
    return json.loads(DEMO_PATH.read_text(encoding="utf-8"))


class InFlight:
    """Counts updates the dispatcher is still handling, so tests wait for the bot rather than guess."""

    def __init__(self) -> None:
        self.count = 0

    async def __call__(self, handler: Any, event: Any, data: dict[str, Any]) -> Any:
        self.count += 1
        try:
            return await handler(event, data)
        finally:
            self.count -= 1


@dataclass
class BotEnv:
    emu: TelegramEmulator
    app: App
    clock: FrozenClock
    settings: Settings
    demo: dict[str, Any]
    task: asyncio.Task[None] | None = None
    inflight: InFlight = field(default_factory=InFlight)

    async def launch(self) -> None:
        """Start the bot as in production (command menus, outbox sender, long polling or a webhook server);
        return once it polls or has set its webhook."""
        started = "setWebhook" if self.settings.webhook.url else "getUpdates"
        polls = len(self.emu.calls(started))
        self.app.dispatcher.update.outer_middleware(self.inflight)
        bot = make_bot(self.settings)
        self.task = asyncio.create_task(
            run_bot(self.settings, clock=self.clock, bot=bot, handle_signals=False, migrate=False, app=self.app)
        )
        for _ in range(1000):
            if len(self.emu.calls(started)) > polls:
                return
            if self.task.done():
                self.task.result()
            await asyncio.sleep(0.01)
        raise TimeoutError("the bot did not start polling")

    async def shutdown(self) -> None:
        if self.settings.webhook.url and self.task is not None:
            self.task.cancel()  # the webhook server runs until cancelled, like a process until SIGTERM
        with contextlib.suppress(RuntimeError):
            await self.app.dispatcher.stop_polling()
        if self.task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self.task, timeout=10)
            self.task = None

    async def restart(self) -> None:
        """Stop the bot process and start a fresh one on the same database (state must survive)."""
        await self.idle()
        await self.shutdown()
        self.app = setup_dispatcher(self.settings, clock=self.clock)
        await self.launch()
        await self.idle()

    def person(self, tg_id: int, language_code: str = "ru") -> SimUser:
        who = next(e for e in self.demo["employees"] if e["telegram_id"] == tg_id)
        last, first, *_ = [*who["full_name"].split(), "", ""]
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

    def ru(self, text_fn: Callable[[], str]) -> str:
        """What a Russian-speaking user sees (from the catalogs, so tests follow the translation)."""
        with self.app.i18n.context(), self.app.i18n.use_locale("ru"):
            return text_fn()

    def en(self, text_fn: Callable[[], str]) -> str:
        with self.app.i18n.context(), self.app.i18n.use_locale("en"):
            return text_fn()

    def uow(self) -> UnitOfWork:
        """A unit of work that wakes the running bot's notification sender on commit."""
        return UnitOfWork(self.app.session_factory, on_outbox=lambda: [cb() for cb in self.app.wake_sender])

    async def actor(self, tg_id: int) -> Actor:
        info = await get_user(self.uow(), tg_id)
        assert info is not None and info.actor is not None
        return info.actor

    async def department_id(self, code: str) -> int:
        async with self.uow() as uow:
            dept = await uow.departments.by_code(code)
            assert dept is not None
            return dept.id

    async def issue(self, issuer_tg: int, codes: list[str], text: str = "Проверить освещение", **kw: Any) -> OrderCard:
        """Issue an order through the service (tests that are not about the dialog)."""
        ids = tuple([await self.department_id(c) for c in codes])
        due = kw.pop("due_at", self.clock.now() + timedelta(days=2))
        draft = Draft(title=text, text=text, executor_department_ids=ids, due_at=due, **kw)
        card = await create_order(self.app.ctx, self.uow(), await self.actor(issuer_tg), draft)
        await self.idle()
        return card

    async def act(self, tg_id: int, order_id: int, action: Action, **kw: Any) -> OrderCard:
        card = await perform(self.app.ctx, self.uow(), await self.actor(tg_id), order_id, action, **kw)
        await self.idle()
        return card

    def card_in(self, chat_id: int, number: str) -> Any:
        cards = [m for m in self.emu.bot_messages(chat_id) if number in m.content and m.buttons]
        assert cards, f"no card of {number} in chat {chat_id}: {self.texts(chat_id)}"
        return cards[-1]

    async def idle(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait until the bot fetched every update, made no request for a moment, and the notification
        outbox holds nothing due (the sender works in the background, after the handler returned)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            await self.emu.wait_idle(timeout=timeout)
            async with UnitOfWork(self.app.session_factory) as uow:
                due = await uow.outbox.due(self.clock.now(), 1)
            if not due and self.inflight.count == 0:
                return
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("notifications still pending in the outbox")
            await asyncio.sleep(0.05)

    def last(self, chat_id: int) -> Any:
        msg = self.emu.last_bot_message(chat_id)
        assert msg is not None, f"the bot sent nothing to {chat_id}"
        return msg

    async def say(self, user: SimUser, text: str) -> str:
        """The user writes `text` in the private chat; returns the bot's last answer."""
        await user.send_text(text)
        await self.idle()
        return str(self.last(user.id).content)

    async def tap(self, user: SimUser, *labels: str) -> None:
        """The user presses buttons of the bot's latest message, one after another."""
        for label in labels:
            await user.press(self.last(user.id), label)
            await self.idle()

    async def draft_to_roads(self, user: SimUser) -> None:
        """An English-speaking head starts /new and picks ROADS by searching; the dialog then asks for text."""
        await self.say(user, "/new")
        await self.say(user, "roads")
        await self.tap(user, "Transport and roads division", "Done")

    def with_button(self, chat_id: int, label: str) -> Any:
        """The latest bot message in the chat that shows a button `label`."""
        found = [m for m in self.emu.bot_messages(chat_id) if any(lbl == label for lbl, _d in m.buttons)]
        assert found, f"no message with [{label}] in chat {chat_id}"
        return found[-1]

    def texts(self, chat_id: int) -> list[str]:
        return [m.content for m in self.emu.bot_messages(chat_id)]

    async def group(self, chat_id: int, title: str, members: list[SimUser]) -> SimGroup:
        return self.emu.group(chat_id, title=title, members=members)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


POSTGRES_URL = os.environ.get("TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "")


@pytest_asyncio.fixture
async def bot_env(
    request: pytest.FixtureRequest,
    emulator: TelegramEmulator,  # noqa: F811
    tmp_path: Path,
    demo: dict[str, Any],
) -> AsyncIterator[BotEnv]:
    """The real bot (dispatcher, middlewares, sender, database) talking to the emulator over HTTP.

    By default on SQLite with long polling; `@pytest.mark.parametrize("bot_env", [...], indirect=True)` with
    "postgres" (needs TEST_DATABASE_URL), "webhook" or "redis" (dialog state in Redis, needs TEST_REDIS_URL)
    runs the same test in that configuration.
    """
    variant = getattr(request, "param", "sqlite")
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'e2e.db'}"
    if variant == "postgres":
        if not POSTGRES_URL:
            pytest.skip("TEST_DATABASE_URL is not set")
        database_url = POSTGRES_URL
        await asyncio.to_thread(downgrade, database_url, "base")
    if variant == "redis" and not REDIS_URL:
        pytest.skip("TEST_REDIS_URL is not set")
    webhook = WebhookSettings()
    if variant == "webhook":
        port = free_port()
        webhook = WebhookSettings(url=f"http://127.0.0.1:{port}", host="127.0.0.1", port=port, secret="e2e-secret")
    settings = Settings(
        _env_file=None,
        bot_token=emulator.token,
        database_url=database_url,
        telegram_api_url=emulator.base_url,
        outbox_poll_interval=0.2,
        redis_url=REDIS_URL if variant == "redis" else "",
        webhook=webhook,
    )
    if variant == "redis":
        from redis.asyncio import Redis

        async with Redis.from_url(REDIS_URL) as r:
            await r.flushdb()
    clock = FrozenClock(T0)
    await upgrade_async(settings.database_url)
    app = setup_dispatcher(settings, clock=clock)
    await import_org(UnitOfWork(app.session_factory), demo)
    env = BotEnv(emulator, app, clock, settings, demo)
    await env.launch()
    await env.idle()
    try:
        yield env
        await env.idle()
    finally:
        await env.shutdown()
