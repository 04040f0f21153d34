"""Acting on orders: the card's buttons, the pickers, and the dialogs that collect a reason, a comment or a
report (text and files). Every button is re-authorised by the service against the order's current state."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State as FsmState
from aiogram.fsm.state import StatesGroup
from aiogram.fsm.storage.base import BaseStorage
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _

from bot import render
from bot.domain.deadlines import parse_deadline
from bot.domain.errors import BadDeadline, BadInput, DomainError, NotAllowed, OrderChanged
from bot.domain.policy import Actor
from bot.domain.states import Action
from bot.services import orders as svc
from bot.services import users
from bot.services.context import AppContext
from bot.services.dto import AttachmentInfo, OrderCard
from handlers.filters import Active, InInput, PlainInput, input_context
from handlers.media import attachment_of
from keyboards.callbacks import InputDone, OrderAct, OrderView, PickExecutor, PickForward
from keyboards.orders import card_keyboard, executor_picker, forward_picker, input_keyboard
from storage.uow import UnitOfWork

T = TypeVar("T")


class OrderInput(StatesGroup):
    deadline = FsmState()  # an extension request: the new deadline first
    collect = FsmState()  # reason, comment or report


# Actions done at once by pressing the button.
DIRECT = frozenset({Action.CLOSE, Action.GRANT_EXTENSION, Action.DENY_EXTENSION})
# Actions whose dialog collects files too and ends with a Submit button.
WITH_FILES = frozenset({Action.REPORT, Action.COMMENT})
# Actions for which the text may be left out.
TEXT_OPTIONAL = frozenset({Action.CANCEL})


def prompt(action: Action) -> str:
    return {
        Action.DECLINE: _("Why do you decline the order? Write the reason."),
        Action.RETURN: _("What must be reworked? Write a comment for the executor."),
        Action.FORWARD: _("Why do you forward it? Write the reason."),
        Action.COMMENT: _("Write your comment (you may attach files)."),
        Action.REPORT: _("Send the report: text and files (documents or photos). Then press «Submit»."),
        Action.CANCEL: _("Why do you cancel it? Write the reason, or press «Submit» to cancel without one."),
        Action.REQUEST_EXTENSION: _("Why do you need more time? Write the reason."),
    }.get(action, _("Write the text."))


def done_text(action: Action, number: str) -> str:
    return {
        Action.ACCEPT: _("Order {number} accepted."),
        Action.ASSIGN: _("Executor of {number} assigned."),
        Action.FORWARD: _("Order {number} forwarded."),
        Action.DECLINE: _("Order {number} declined."),
        Action.REPORT: _("Report on {number} sent."),
        Action.RETURN: _("Order {number} returned for rework."),
        Action.CLOSE: _("Order {number} closed."),
        Action.CANCEL: _("Order {number} cancelled."),
        Action.COMMENT: _("Comment on {number} sent."),
        Action.REQUEST_EXTENSION: _("Extension of {number} requested."),
        Action.GRANT_EXTENSION: _("Extension of {number} granted."),
        Action.DENY_EXTENSION: _("Extension of {number} denied."),
    }[action].format(number=render.escape(number))


def card_view(card: OrderCard, ctx: AppContext, *, in_group: bool) -> tuple[str, InlineKeyboardMarkup]:
    """A card and its buttons: in a department chat, the head's buttons (whoever presses is re-checked)."""
    text = render.card(card, ctx.clock.now(), ctx.tz)
    return text, card_keyboard(card, card.chat_actions if in_group else card.actions)


def _in_group(callback: CallbackQuery) -> bool:
    return callback.message is not None and callback.message.chat.type != "private"


def _action(value: str, allowed: frozenset[Action] | None = None) -> Action:
    """Callback data is untrusted: an unknown action is a stale or forged button."""
    try:
        action = Action(value)
    except ValueError:
        raise BadInput("action") from None
    if allowed is not None and action not in allowed:
        raise BadInput("action")
    return action


async def _show(callback: CallbackQuery, card: OrderCard, ctx: AppContext) -> None:
    """Put the current card into the message whose button was pressed."""
    if not isinstance(callback.message, Message):
        return
    text, markup = card_view(card, ctx, in_group=_in_group(callback))
    with contextlib.suppress(TelegramBadRequest):  # "message is not modified" is fine
        await callback.message.edit_text(text, reply_markup=markup)


async def _refreshing(
    call: Callable[[], Awaitable[T]], callback: CallbackQuery, ctx: AppContext, uow: UnitOfWork, actor: Actor, oid: int
) -> T:
    """Run a service call; if the order changed meanwhile, show its current card before the error is told."""
    try:
        return await call()
    except OrderChanged:
        with contextlib.suppress(DomainError):
            await _show(callback, await svc.get_card(ctx, uow, actor, oid), ctx)
        raise


# --- viewing ----------------------------------------------------------------------------------------------


async def view(
    callback: CallbackQuery, callback_data: OrderView, bot: Bot, ctx: AppContext, uow: UnitOfWork, actor: Actor
) -> None:
    if callback_data.w == "h":
        number, items = await svc.history(ctx, uow, actor, callback_data.id)
        # In a group the history goes to the private chat of whoever asked, not to everyone in the chat.
        for part in render.split_text(render.history(number, items, ctx.tz)):
            await bot.send_message(callback.from_user.id, part)
        await callback.answer(_("Sent to our private chat.") if _in_group(callback) else None)
        return
    card = await svc.get_card(ctx, uow, actor, callback_data.id)
    if callback_data.w == "r":
        await _show(callback, card, ctx)
    elif isinstance(callback.message, Message):
        text, markup = card_view(card, ctx, in_group=_in_group(callback))
        await callback.message.answer(text, reply_markup=markup)
    await callback.answer()


async def order_by_number(
    message: Message, command: CommandObject, ctx: AppContext, uow: UnitOfWork, actor: Actor
) -> None:
    number = (command.args or "").strip()
    if not number:
        await message.answer(_("Write the number after the command, e.g. /order П-2026-000123"))
        return
    card = await svc.get_card(ctx, uow, actor, number=number)
    text, markup = card_view(card, ctx, in_group=False)
    await message.answer(text, reply_markup=markup)


# --- buttons ----------------------------------------------------------------------------------------------


async def act(
    callback: CallbackQuery,
    callback_data: OrderAct,
    bot: Bot,
    ctx: AppContext,
    uow: UnitOfWork,
    actor: Actor,
    fsm_storage: BaseStorage,
) -> None:
    action = _action(callback_data.a)
    oid, version = callback_data.id, callback_data.v
    if action in DIRECT or (action == Action.ACCEPT and not actor.is_manager):
        card = await _refreshing(
            lambda: svc.perform(ctx, uow, actor, oid, action, version=version), callback, ctx, uow, actor, oid
        )
        await _show(callback, card, ctx)
        await callback.answer(done_text(action, card.number))
        return
    card = await _refreshing(
        lambda: svc.check_action(ctx, uow, actor, oid, action, version), callback, ctx, uow, actor, oid
    )
    if action in (Action.ACCEPT, Action.ASSIGN):
        assert card.executor_department is not None
        staff = await users.staff(uow, card.executor_department.id)
        await _replace_markup(callback, executor_picker(oid, action, version, staff))
        await callback.answer(_("Who will execute it?"))
    elif action == Action.FORWARD:
        departments = await users.departments(uow)
        exclude = card.executor_department.id if card.executor_department else None
        await _replace_markup(callback, forward_picker(oid, version, departments, exclude))
        await callback.answer(_("Where to forward it?"))
    else:
        await _start_input(callback, bot, fsm_storage, action=action, card=card)


async def _replace_markup(callback: CallbackQuery, markup: InlineKeyboardMarkup) -> None:
    if isinstance(callback.message, Message):
        with contextlib.suppress(TelegramBadRequest):
            await callback.message.edit_reply_markup(reply_markup=markup)


async def pick_executor(
    callback: CallbackQuery, callback_data: PickExecutor, ctx: AppContext, uow: UnitOfWork, actor: Actor
) -> None:
    action = _action(callback_data.a, frozenset({Action.ACCEPT, Action.ASSIGN}))
    oid = callback_data.id

    def call() -> Awaitable[OrderCard]:
        return svc.perform(ctx, uow, actor, oid, action, version=callback_data.v, executor_id=callback_data.u or None)

    card = await _refreshing(call, callback, ctx, uow, actor, oid)
    await _show(callback, card, ctx)
    await callback.answer(done_text(action, card.number))


async def pick_forward(
    callback: CallbackQuery,
    callback_data: PickForward,
    bot: Bot,
    ctx: AppContext,
    uow: UnitOfWork,
    actor: Actor,
    fsm_storage: BaseStorage,
) -> None:
    oid = callback_data.id
    card = await _refreshing(
        lambda: svc.check_action(ctx, uow, actor, oid, Action.FORWARD, callback_data.v), callback, ctx, uow, actor, oid
    )
    await _start_input(callback, bot, fsm_storage, action=Action.FORWARD, card=card, extra={"d": callback_data.d})


# --- dialogs collecting text and files --------------------------------------------------------------------


async def _start_input(
    callback: CallbackQuery,
    bot: Bot,
    storage: BaseStorage,
    *,
    action: Action,
    card: OrderCard,
    extra: dict[str, Any] | None = None,
) -> None:
    """Ask for the text in the private chat (also when the button was pressed in a group)."""
    user_id = callback.from_user.id
    inp = input_context(bot, storage, user_id)
    data: dict[str, Any] = {"oid": card.id, "a": action.value, "v": card.version, "n": card.number}
    data.update({"text": "", "files": [], **(extra or {})})
    header = f"<b>{render.escape(card.number)}</b> · {render.escape(card.title)}\n"
    if action == Action.REQUEST_EXTENSION:
        state, text = OrderInput.deadline, _("Until when do you need it? Write the new deadline, e.g. 25.12 18:00.")
    else:
        state, text = OrderInput.collect, prompt(action)
    try:
        await bot.send_message(user_id, header + text, reply_markup=input_keyboard(can_submit=action in TEXT_OPTIONAL))
    except TelegramAPIError:
        await callback.answer(
            _("Open a private chat with me first (send /start there), then press again."), show_alert=True
        )
        return
    await inp.set_data(data)
    await inp.set_state(state)
    if _in_group(callback):
        await callback.answer(_("Continue in the private chat with me."), show_alert=True)
    else:
        await callback.answer()


async def input_deadline(message: Message, inp: FSMContext, ctx: AppContext) -> None:
    try:
        due = parse_deadline(message.text or "", ctx.clock.now(), ctx.tz)
    except BadDeadline as e:
        await message.answer(render.error_text(e))
        return
    await inp.update_data(due=due.isoformat())
    await inp.set_state(OrderInput.collect)
    await message.answer(prompt(Action.REQUEST_EXTENSION), reply_markup=input_keyboard(can_submit=False))


async def input_collect(message: Message, inp: FSMContext, ctx: AppContext, uow: UnitOfWork, actor: Actor) -> None:
    data = await inp.get_data()
    action = Action(data["a"])
    file = attachment_of(message)
    text = (message.text or message.caption or "").strip()
    if file is None and not text:
        await message.answer(_("Please send text, a document or a photo."))
        return
    if file is not None and action not in WITH_FILES:
        await message.answer(_("Files are not needed here; please write the text."))
        return
    combined = (data.get("text", "") + "\n" + text).strip() if action in WITH_FILES else text
    if len(combined) > svc.COMMENT_MAX:
        limit = BadInput("comment_too_long", length=len(combined), limit=svc.COMMENT_MAX)
        await message.answer(render.bad_input_text(limit) + "\n" + _("What you sent before is kept."))
        return
    data["text"] = combined
    if file is not None:
        data["files"] = [*data.get("files", []), file.__dict__]
    await inp.set_data(data)
    if action == Action.REPORT or (action == Action.COMMENT and data["files"]):
        summary = _("Got it: text {text}, files: {files}. Add more or press «Submit».").format(
            text="✅" if data["text"] else "—", files=len(data["files"])
        )
        await message.answer(summary, reply_markup=input_keyboard(can_submit=True))
        return
    await _submit(message, inp, ctx, uow, actor)


async def _submit(message: Message, inp: FSMContext, ctx: AppContext, uow: UnitOfWork, actor: Actor) -> None:
    """Perform the action with what was collected. The policy re-checks the order's current state: what was
    allowed when the dialog began may not be any more (then the order has changed). Others acting on the
    order meanwhile (a comment, say) do not spoil a report being typed."""
    data = await inp.get_data()
    action = Action(data["a"])
    try:
        card = await svc.perform(
            ctx,
            uow,
            actor,
            int(data["oid"]),
            action,
            comment=data.get("text") or None,
            department_id=data.get("d"),
            new_due=datetime.fromisoformat(data["due"]) if data.get("due") else None,
            files=[AttachmentInfo(**f) for f in data.get("files", [])],
        )
    except NotAllowed:
        await inp.clear()
        raise OrderChanged() from None
    except (BadDeadline, OrderChanged):
        await inp.clear()
        raise
    await inp.clear()
    text, markup = card_view(card, ctx, in_group=False)
    await message.answer(done_text(action, card.number) + "\n\n" + text, reply_markup=markup)


async def input_done(
    callback: CallbackQuery, callback_data: InputDone, inp: FSMContext, ctx: AppContext, uow: UnitOfWork, actor: Actor
) -> None:
    if not callback_data.ok:
        await inp.clear()
        if isinstance(callback.message, Message):
            with contextlib.suppress(TelegramBadRequest):
                await callback.message.edit_reply_markup(reply_markup=None)
        await callback.answer(_("Cancelled."))
        return
    if await inp.get_state() != OrderInput.collect.state or not isinstance(callback.message, Message):
        await callback.answer(_("This dialog is over."), show_alert=True)
        return
    await _submit(callback.message, inp, ctx, uow, actor)
    await callback.answer()


async def input_stale(callback: CallbackQuery) -> None:
    await callback.answer(_("This dialog is over."), show_alert=True)


def setup() -> Router:
    router = Router(name=__name__)
    router.message.filter(Active())
    router.callback_query.filter(Active())
    private = F.chat.type == "private"
    router.callback_query.register(view, OrderView.filter())
    router.callback_query.register(act, OrderAct.filter())
    router.callback_query.register(pick_executor, PickExecutor.filter())
    router.callback_query.register(pick_forward, PickForward.filter())
    router.callback_query.register(input_done, InputDone.filter(), InInput())
    router.callback_query.register(input_stale, InputDone.filter())
    router.message.register(order_by_number, Command("order"), private)
    router.message.register(input_deadline, private, PlainInput(), InInput(OrderInput.deadline))
    router.message.register(input_collect, private, PlainInput(), InInput(OrderInput.collect))
    return router
