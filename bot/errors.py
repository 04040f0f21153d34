"""The global error handler: domain refusals become a translated answer; anything else is logged with an
incident id and the user is told, in their language, that something went wrong. Never silence, never a
traceback. It is the outermost layer of message and callback handling, so a failure while loading the user
is answered too; it speaks the user's language on its own."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.types import CallbackQuery, Message, TelegramObject, User
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.domain.errors import DomainError
from bot.render import error_text
from bot.services.dto import UserInfo

log = logging.getLogger("munorders.errors")


async def tell(event: TelegramObject, text: str) -> None:
    """Answer a message or a callback query with `text` (callbacks get an alert, so the button stops)."""
    try:
        if isinstance(event, CallbackQuery):
            await event.answer(text[:200], show_alert=True)
        elif isinstance(event, Message):
            await event.answer(text)
    except TelegramAPIError:
        log.warning("could not tell the user about an error", exc_info=True)


class ErrorReplyMiddleware(BaseMiddleware):
    def __init__(self, i18n: I18n) -> None:
        self.i18n = i18n

    def _locale(self, data: dict[str, Any]) -> str:
        info: UserInfo | None = data.get("user")
        tg_user: User | None = data.get("event_from_user")
        for code in (info.language if info else None, tg_user.language_code if tg_user else None):
            if code and code[:2] in self.i18n.available_locales:
                return code[:2]
        return self.i18n.default_locale

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        try:
            return await handler(event, data)
        except DomainError as exc:
            with self.i18n.context(), self.i18n.use_locale(self._locale(data)):
                text = error_text(exc)
        except TelegramBadRequest as exc:
            if "query is too old" not in exc.message:
                raise
            # The work was done but the button's answer came too late (overload): nothing to tell.
            log.info("late callback answer: %s", exc.message)
            return None
        except Exception:
            incident = uuid.uuid4().hex[:8]
            log.exception("incident %s while handling %s", incident, type(event).__name__)
            with self.i18n.context(), self.i18n.use_locale(self._locale(data)):
                text = _("Something went wrong on our side (incident {incident}). Please try again later.")
            text = text.format(incident=incident)
        await tell(event, text)
        return None
