"""The bots under test, each in a process of its own (as in production), polling the emulator over HTTP.

    python -m benchmarks.botproc '{"kind": "munorders", "token": ..., "api_url": ..., ...}'

The parent learns when each update was fully handled: an outer update middleware writes
``D <update_id> <time.monotonic()> <ok>`` to stdout once the handlers returned (so every Bot API request
they made was answered). CLOCK_MONOTONIC is shared by the processes of one machine, so the parent compares
it with the moment the simulated user acted. At exit the process writes ``X <json>`` with its peak RSS and
the errors it logged. Logging goes to a file (INFO, as `munorders run` does), never to stdout.
"""

from __future__ import annotations

import asyncio
import cProfile
import json
import logging
import os
import resource
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import asdict, dataclass
from typing import Any

from aiogram import BaseMiddleware, Bot, Dispatcher
from aiogram.types import TelegramObject

BARE_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS hits (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, kind TEXT NOT NULL, "
    "payload TEXT NOT NULL, at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)",
    "CREATE TABLE IF NOT EXISTS tallies (user_id INTEGER PRIMARY KEY, n INTEGER NOT NULL)",
)


@dataclass(frozen=True)
class BotConfig:
    kind: str  # munorders | bare
    token: str
    api_url: str
    database_url: str
    log_path: str
    profile_path: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self))


def peak_rss_kb() -> int:
    """Peak resident set of this process (VmHWM; ru_maxrss would include the parent's at fork)."""
    try:
        for line in open("/proc/self/status", encoding="ascii"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _emit(line: str) -> None:
    os.write(sys.stdout.fileno(), line.encode() + b"\n")


class DoneReporter(BaseMiddleware):
    """Tells the parent when an update was handled (outer middleware of `dp.update`)."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        ok = False
        try:
            result = await handler(event, data)
            ok = True
            return result
        finally:
            _emit(f"D {getattr(event, 'update_id', -1)} {time.monotonic():.6f} {int(ok)}")


class ErrorCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0
        self.first: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if len(self.first) < 3:
            self.first.append(logging.Formatter().format(record)[:1500])


async def run_munorders(cfg: BotConfig) -> None:
    from bot.app import make_bot, setup_dispatcher
    from bot.config import Settings
    from bot.runner import run_bot

    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        bot_token=cfg.token,
        database_url=cfg.database_url,
        telegram_api_url=cfg.api_url,
        redis_url="",
    )
    app = setup_dispatcher(settings)
    app.dispatcher.update.outer_middleware(DoneReporter())
    await run_bot(settings, bot=make_bot(settings), handle_signals=True, migrate=False, app=app)


async def run_bare(cfg: BotConfig) -> None:
    """The baseline: per update one SQLite transaction (INSERT + UPSERT…RETURNING) and one message."""
    from aiogram.client.default import DefaultBotProperties
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer
    from aiogram.enums import ParseMode
    from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
    from sqlalchemy import text as sql

    from storage.db import make_engine  # the same SQLite settings as munorders (WAL, synchronous=NORMAL)

    engine = make_engine(cfg.database_url)
    async with engine.begin() as conn:
        for ddl in BARE_SCHEMA:
            await conn.execute(sql(ddl))
    insert_hit = sql("INSERT INTO hits (user_id, kind, payload) VALUES (:u, :k, :p)")
    bump = sql(
        "INSERT INTO tallies (user_id, n) VALUES (:u, 1) ON CONFLICT (user_id) DO UPDATE SET n = n + 1 RETURNING n"
    )

    async def record(user_id: int, kind: str, payload: str) -> int:
        async with engine.begin() as conn:
            await conn.execute(insert_hit, {"u": user_id, "k": kind, "p": payload})
            n: int = (await conn.execute(bump, {"u": user_id})).scalar_one()
            return n

    def reply(n: int) -> tuple[str, InlineKeyboardMarkup]:
        button = InlineKeyboardButton(text="Дальше »", callback_data=f"n:{n}")
        return f"Принято, это <b>{n}</b>-е действие.", InlineKeyboardMarkup(inline_keyboard=[[button]])

    async def on_message(message: Message) -> None:
        text, markup = reply(await record(message.chat.id, "message", message.text or ""))
        await message.answer(text, reply_markup=markup)

    async def on_callback(callback: CallbackQuery) -> None:
        text, markup = reply(await record(callback.from_user.id, "callback", callback.data or ""))
        await callback.answer()
        if isinstance(callback.message, Message):
            await callback.message.answer(text, reply_markup=markup)

    bot = Bot(
        cfg.token,
        session=AiohttpSession(api=TelegramAPIServer.from_base(cfg.api_url)),
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )
    dp = Dispatcher()
    dp.update.outer_middleware(DoneReporter())
    dp.message.register(on_message)
    dp.callback_query.register(on_callback)
    try:
        await bot.delete_webhook(drop_pending_updates=False)
        await dp.start_polling(bot, handle_signals=True, allowed_updates=dp.resolve_used_update_types())
    finally:
        await bot.session.close()
        await engine.dispose()


RUNNERS: dict[str, Callable[[BotConfig], Coroutine[Any, Any, None]]] = {"munorders": run_munorders, "bare": run_bare}


def _exit_with_parent() -> None:
    """The parent holds our stdin open; EOF means it is gone (or wants us to stop): stop like on SIGTERM."""

    def watch() -> None:
        sys.stdin.buffer.read()
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(argv: list[str]) -> int:
    cfg = BotConfig(**json.loads(argv[0]))
    _exit_with_parent()
    errors = ErrorCounter()
    handler = logging.FileHandler(cfg.log_path, mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler, errors], force=True)
    profiler = cProfile.Profile() if cfg.profile_path else None
    if profiler is not None:
        profiler.enable()
    try:
        asyncio.run(RUNNERS[cfg.kind](cfg))
    finally:
        if profiler is not None:
            profiler.disable()
            assert cfg.profile_path is not None
            profiler.dump_stats(cfg.profile_path)
        _emit("X " + json.dumps({"rss_kb": peak_rss_kb(), "errors": errors.count, "first_errors": errors.first}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
