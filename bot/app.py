"""Composition root: builds the dispatcher and everything it needs, without a token or a network."""

from __future__ import annotations

from dataclasses import dataclass

from aiogram import Bot, Dispatcher, methods
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.fsm.storage.base import BaseStorage
from aiogram.utils.i18n import I18n
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.errors import ErrorReplyMiddleware
from bot.i18n import make_i18n
from bot.middlewares import UnitOfWorkMiddleware, UserI18nMiddleware, UserMiddleware
from bot.services.context import AppContext
from storage.db import make_engine, make_session_factory
from storage.fsm import DatabaseStorage


@dataclass
class App:
    settings: Settings
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    ctx: AppContext
    i18n: I18n
    dispatcher: Dispatcher
    wake_sender: list  # callbacks set once the sender exists


def make_context(settings: Settings, clock: Clock | None = None) -> AppContext:
    return AppContext(
        clock=clock or SystemClock(),
        tz=settings.tz,
        number_prefix=settings.number_prefix.upper(),
        default_locale=settings.default_language,
        admin_telegram_ids=frozenset(settings.admin_ids),
    )


# The Bot API methods the bot calls. aiogram parametrises `Response[...]` per call and pydantic keeps that
# generated class only weakly, so under garbage collection it is rebuilt (milliseconds each time).
_USED_METHODS = (
    methods.SendMessage,
    methods.SendPhoto,
    methods.SendDocument,
    methods.EditMessageText,
    methods.EditMessageReplyMarkup,
    methods.AnswerCallbackQuery,
    methods.GetUpdates,
    methods.GetMe,
    methods.SetMyCommands,
    methods.SetWebhook,
    methods.DeleteWebhook,
)
_PINNED_RESPONSE_TYPES: list[type] = []


def _pin_response_types() -> None:
    if not _PINNED_RESPONSE_TYPES:
        _PINNED_RESPONSE_TYPES.extend(methods.Response[m.__returning__] for m in _USED_METHODS)  # type: ignore[name-defined]


def make_bot(settings: Settings, token: str | None = None) -> Bot:
    _pin_response_types()
    session = None
    if settings.telegram_api_url:
        session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    return Bot(
        token or settings.bot_token.get_secret_value(),
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )


def make_storage(settings: Settings, session_factory: async_sessionmaker[AsyncSession]) -> BaseStorage:
    if settings.redis_url:
        from aiogram.fsm.storage.base import DefaultKeyBuilder
        from aiogram.fsm.storage.redis import RedisStorage

        # with_destiny: an action dialog and a half-made order are kept side by side.
        return RedisStorage.from_url(settings.redis_url, key_builder=DefaultKeyBuilder(with_destiny=True))
    return DatabaseStorage(session_factory)


def setup_dispatcher(settings: Settings, *, clock: Clock | None = None, engine: AsyncEngine | None = None) -> App:
    """Everything but the Bot: routers, middlewares, storage, i18n. Tests build a fresh one per test."""
    from handlers import setup_routers

    engine = engine or make_engine(settings.database_url)
    session_factory = make_session_factory(engine)
    ctx = make_context(settings, clock)
    i18n = make_i18n(settings.locales_dir, settings.default_language)
    wake: list = []

    def on_outbox() -> None:
        for cb in wake:
            cb()

    dp = Dispatcher(
        storage=make_storage(settings, session_factory),
        ctx=ctx,
        settings=settings,
        session_factory=session_factory,
    )
    dp.update.outer_middleware(UnitOfWorkMiddleware(session_factory, on_outbox))
    # Order matters: errors outermost (so nothing goes unanswered), then who the user is, then their language.
    errors_mw = ErrorReplyMiddleware(i18n)
    for observer in (dp.message, dp.callback_query):
        observer.outer_middleware(errors_mw)
    user_mw = UserMiddleware()
    for observer in (dp.message, dp.callback_query, dp.edited_message, dp.my_chat_member):
        observer.outer_middleware(user_mw)
    UserI18nMiddleware(i18n).setup(dp)
    dp.include_router(setup_routers())
    return App(settings, engine, session_factory, ctx, i18n, dp, wake)
