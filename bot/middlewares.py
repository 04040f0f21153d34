"""Outer middlewares: a unit of work per update, the user behind it, and their language."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import Message, TelegramObject, User
from aiogram.utils.i18n import I18n, I18nMiddleware
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.services import users
from bot.services.context import AppContext
from bot.services.dto import UserInfo
from storage.uow import UnitOfWork

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class UnitOfWorkMiddleware(BaseMiddleware):
    """Puts a fresh (not yet opened) UnitOfWork into the handler data; services open and commit it."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession], on_outbox: Callable[[], None] | None):
        self.session_factory = session_factory
        self.on_outbox = on_outbox

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        data["uow"] = UnitOfWork(self.session_factory, on_outbox=self.on_outbox)
        return await handler(event, data)


def profile_of(user: User) -> users.TelegramProfile:
    return users.TelegramProfile(user.id, user.full_name, user.username, user.language_code)


class UserMiddleware(BaseMiddleware):
    """Loads who is writing: `user` (UserInfo or None for strangers) and `actor` (None unless active)."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        tg_user: User | None = data.get("event_from_user")
        info: UserInfo | None = None
        if tg_user is not None and not tg_user.is_bot:
            ctx: AppContext = data["ctx"]
            uow: UnitOfWork = data["uow"]
            # Only a private chat proves the user opened the bot (Telegram lets us write to them then).
            if isinstance(event, Message) and event.chat.type == "private":
                info = await users.identify(ctx, uow, profile_of(tg_user))
            else:
                info = await users.get_user(uow, tg_user.id)
        data["user"] = info
        data["actor"] = info.actor if info else None
        return await handler(event, data)


class UserI18nMiddleware(I18nMiddleware):
    """The user's chosen language, else their Telegram language, else the municipality's default."""

    def __init__(self, i18n: I18n) -> None:
        super().__init__(i18n)

    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        info: UserInfo | None = data.get("user")
        if info is not None and info.language in self.i18n.available_locales:
            return info.language
        tg_user: User | None = data.get("event_from_user")
        code = (tg_user.language_code or "")[:2] if tg_user else ""
        return code if code in self.i18n.available_locales else self.i18n.default_locale
