"""Filters shared by the feature routers."""

from __future__ import annotations

from typing import Any

from aiogram.filters import Filter
from aiogram.types import TelegramObject

from bot.domain.policy import Actor


class Active(Filter):
    """The update comes from a registered, active user (the fallback router explains to everybody else)."""

    async def __call__(self, event: TelegramObject, actor: Actor | None = None, **_: Any) -> bool:
        return actor is not None
