"""Filters shared by the feature routers, and the side dialog that collects text for an action."""

from __future__ import annotations

from typing import Any

from aiogram import Bot
from aiogram.filters import Filter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, StorageKey
from aiogram.types import Message, TelegramObject, User

from bot.domain.policy import Actor
from keyboards.menu import menu_labels

# A reason, comment or report being typed lives beside a half-made order (its own FSM "destiny"),
# so answering a colleague does not throw away a draft.
INPUT_DESTINY = "order_input"


class Active(Filter):
    """The update comes from a registered, active user (the fallback router explains to everybody else)."""

    async def __call__(self, event: TelegramObject, actor: Actor | None = None, **_: Any) -> bool:
        return actor is not None


class PlainInput(Filter):
    """A message that is input for a dialog: not a command and not a button of the main menu."""

    async def __call__(self, message: Message) -> bool:
        text = message.text or ""
        return not text.startswith("/") and text not in menu_labels()


def input_context(bot: Bot, storage: BaseStorage, user_id: int) -> FSMContext:
    key = StorageKey(bot_id=bot.id, chat_id=user_id, user_id=user_id, destiny=INPUT_DESTINY)
    return FSMContext(storage=storage, key=key)


class InInput(Filter):
    """The user has an action dialog open in one of `states`; the handler gets it as `inp`."""

    def __init__(self, *states: State) -> None:
        self.states = {s.state for s in states}

    async def __call__(
        self, event: TelegramObject, bot: Bot, fsm_storage: BaseStorage, event_from_user: User | None = None, **_: Any
    ) -> bool | dict[str, Any]:
        if event_from_user is None:
            return False
        inp = input_context(bot, fsm_storage, event_from_user.id)
        current = await inp.get_state()
        if current is None or (self.states and current not in self.states):
            return False
        return {"inp": inp}
