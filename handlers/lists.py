"""/inbox, /outbox, /control and /find: filtered, paginated lists, overdue first."""

from __future__ import annotations

import contextlib

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.fsm.storage.base import BaseStorage, StorageKey
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from bot import render
from bot.config import Settings
from bot.domain.errors import BadInput, NotAllowed
from bot.domain.policy import Actor, can_use_control
from bot.domain.states import Priority, State
from bot.services import orders as svc
from bot.services.context import AppContext
from handlers.filters import Active
from keyboards.callbacks import ListNav
from keyboards.menu import CONTROL, INBOX, OUTBOX
from keyboards.orders import list_keyboard
from storage.repositories import OrderFilter
from storage.uow import UnitOfWork

BOXES = ("inbox", "outbox", "control", "find")
SEARCH_DESTINY = "searches"
KEPT_SEARCHES = 20


def box_title(box: str) -> str:
    return {
        "inbox": _("Inbox"),
        "outbox": _("Outbox"),
        "control": _("On control"),
        "find": _("Search results"),
    }[box]


def _filter(nav: ListNav, text: str | None) -> OrderFilter:
    """Callback data is untrusted: unknown filter values are refused, not passed to the database."""
    if nav.box not in BOXES:
        raise BadInput("filter")
    if nav.st not in ("", "open") and nav.st not in State.__members__.values():
        raise BadInput("filter")
    if nav.pr and nav.pr not in Priority.__members__.values():
        raise BadInput("filter")
    box = "all" if nav.box == "find" else nav.box
    return OrderFilter(box=box, state=nav.st or None, overdue=bool(nav.od), priority=nav.pr or None, text=text)


async def _render(nav: ListNav, actor: Actor, ctx: AppContext, uow: UnitOfWork, settings: Settings, query: str | None):
    if nav.box == "control" and not can_use_control(actor):
        raise NotAllowed("control")
    page = await svc.list_orders(ctx, uow, actor, _filter(nav, query), max(nav.p, 0), settings.page_size)
    title = box_title(nav.box)
    if query:
        title += f" «{render.escape(query)}»"
    return render.order_list(title, page, ctx.tz), list_keyboard(nav, page)


async def show_box(
    message: Message, box: str, actor: Actor, ctx: AppContext, uow: UnitOfWork, settings: Settings
) -> None:
    nav = ListNav(box=box, st="open")
    text, markup = await _render(nav, actor, ctx, uow, settings, None)
    await message.answer(text, reply_markup=markup)


async def inbox(message: Message, actor: Actor, ctx: AppContext, uow: UnitOfWork, settings: Settings) -> None:
    await show_box(message, "inbox", actor, ctx, uow, settings)


async def outbox(message: Message, actor: Actor, ctx: AppContext, uow: UnitOfWork, settings: Settings) -> None:
    await show_box(message, "outbox", actor, ctx, uow, settings)


async def control(message: Message, actor: Actor, ctx: AppContext, uow: UnitOfWork, settings: Settings) -> None:
    await show_box(message, "control", actor, ctx, uow, settings)


def _searches(bot: Bot, storage: BaseStorage, user_id: int) -> FSMContext:
    """Queries of the user's recent /find lists, by the list message's id (too long for callback data)."""
    key = StorageKey(bot_id=bot.id, chat_id=user_id, user_id=user_id, destiny=SEARCH_DESTINY)
    return FSMContext(storage=storage, key=key)


async def find(
    message: Message,
    command: CommandObject,
    bot: Bot,
    fsm_storage: BaseStorage,
    actor: Actor,
    ctx: AppContext,
    uow: UnitOfWork,
    settings: Settings,
) -> None:
    query = (command.args or "").strip()[:100]
    if len(query) < 2:
        await message.answer(_("Write what to look for after the command, e.g. /find snow"))
        return
    nav = ListNav(box="find")
    text, markup = await _render(nav, actor, ctx, uow, settings, query)
    sent = await message.answer(text, reply_markup=markup)
    searches = _searches(bot, fsm_storage, message.chat.id)
    recent = await searches.get_data()
    recent[str(sent.message_id)] = query
    await searches.set_data(dict(list(recent.items())[-KEPT_SEARCHES:]))


async def navigate(
    callback: CallbackQuery,
    callback_data: ListNav,
    bot: Bot,
    fsm_storage: BaseStorage,
    actor: Actor,
    ctx: AppContext,
    uow: UnitOfWork,
    settings: Settings,
) -> None:
    query = None
    if callback_data.box == "find":
        message_id = callback.message.message_id if callback.message else 0
        query = (await _searches(bot, fsm_storage, callback.from_user.id).get_data()).get(str(message_id))
        if query is None:
            await callback.answer(_("This search has expired; run /find again."), show_alert=True)
            return
    text, markup = await _render(callback_data, actor, ctx, uow, settings, query)
    if isinstance(callback.message, Message):
        with contextlib.suppress(TelegramBadRequest):
            await callback.message.edit_text(text, reply_markup=markup)
    await callback.answer()


async def private_only(message: Message) -> None:
    await message.reply(_("Lists are shown in the private chat with me."))


def setup() -> Router:
    router = Router(name=__name__)
    router.message.filter(Active())
    router.callback_query.filter(Active())
    private = F.chat.type == "private"
    router.message.register(inbox, Command("inbox"), private)
    router.message.register(inbox, F.text == INBOX, private)
    router.message.register(outbox, Command("outbox"), private)
    router.message.register(outbox, F.text == OUTBOX, private)
    router.message.register(control, Command("control"), private)
    router.message.register(control, F.text == CONTROL, private)
    router.message.register(find, Command("find"), private)
    router.message.register(private_only, Command("inbox", "outbox", "control", "find"), ~private)
    router.callback_query.register(navigate, ListNav.filter())
    return router
