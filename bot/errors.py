"""The global error handler: domain refusals become a translated answer; anything else is logged with an
incident id and the user is told, in their language, that something went wrong. Never silence, never a
traceback. It runs inside the i18n context (an inner layer of message and callback handling)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.exceptions import TelegramAPIError
from aiogram.types import CallbackQuery, Message, TelegramObject
from aiogram.utils.i18n import gettext as _

from bot.domain.errors import DomainError
from bot.render import error_text

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
    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        try:
            return await handler(event, data)
        except DomainError as exc:
            await tell(event, error_text(exc))
        except Exception:
            incident = uuid.uuid4().hex[:8]
            log.exception("incident %s while handling %s", incident, type(event).__name__)
            await tell(
                event,
                _("Something went wrong on our side (incident {incident}). Please try again later.").format(
                    incident=incident
                ),
            )
        return None
