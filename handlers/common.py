"""/start (with an invite token or without), /help, /lang and /cancel."""

from __future__ import annotations

from html import escape

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.fsm.storage.base import BaseStorage
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.middlewares import profile_of
from bot.render import role_name
from bot.services import users
from bot.services.context import AppContext
from bot.services.dto import UserInfo
from handlers.filters import input_context
from keyboards.callbacks import HelpPage, PickLang
from keyboards.menu import HELP, language_picker, main_menu
from storage.uow import UnitOfWork


async def start(message: Message, command: CommandObject, ctx: AppContext, uow: UnitOfWork, state: FSMContext) -> None:
    """/start and the invite deep link t.me/<bot>?start=<token>."""
    assert message.from_user is not None
    result = await users.start(ctx, uow, profile_of(message.from_user), (command.args or "").strip() or None)
    info = result.user
    match result.outcome:
        case "registered" | "joined" | "admin":
            assert info is not None
            await state.clear()
            await message.answer(welcome(info), reply_markup=main_menu(info.actor))
        case "invite_invalid":
            reasons = {
                "expired": _("This invite link has expired."),
                "revoked": _("This invite link was revoked."),
                "used_up": _("This invite link has already been used."),
            }
            text = reasons.get(result.reason or "", _("This invite link is not valid."))
            await message.answer(text + "\n" + _("Ask your head for a new link."))
        case "pending":
            await message.answer(
                _(
                    "Hello! I do not know you yet. I have sent your request to the administrators; "
                    "you will get a message here once they approve it. If your head gave you an invite link, "
                    "just open it instead."
                )
            )
        case "rejected":
            await message.answer(
                _("Your request to join was declined. If this is a mistake, ask your head for an invite.")
            )
        case _:
            await message.answer(_("Your request is waiting for an administrator. You will get a message here."))


def welcome(info: UserInfo) -> str:
    text = _("Hello, {name}! You are {role} in «{department}».").format(
        name=escape(info.full_name),
        role=role_name(info.role),
        department=escape(info.department_name or "—"),
    )
    return text + "\n" + _("Use the menu below; /help explains how orders work.")


def help_text(page: int) -> str:
    if page == 0:
        return _(
            "<b>How orders work (1/2)</b>\n\n"
            "A head issues an order to one or more departments: /new or «➕ New order». "
            "The order gets a number, a deadline and a priority.\n\n"
            "The executor department's head and chat receive the card. The head <b>accepts</b> it and assigns "
            "an executor, or <b>forwards</b> it to another department, or <b>declines</b> it with a reason.\n\n"
            "The executor <b>reports</b> with text and files. The issuer (or the controller, if the order is on "
            "control) <b>closes</b> it or <b>returns</b> it for rework. The issuer may <b>cancel</b> it until it "
            "is done. Anyone involved may <b>comment</b>: comments reach the other side and stay in the history."
        )
    return _(
        "<b>Where to find things (2/2)</b>\n\n"
        "/inbox: orders addressed to you and your department\n"
        "/outbox: orders issued by you and your department\n"
        "/control: orders on control (controllers)\n"
        "/order П-2026-000123: open an order by number\n"
        "/find text: search orders\n"
        "/invite: invite an employee (heads and admins)\n"
        "/lang: change the language\n"
        "/cancel: abandon the current dialog\n\n"
        "Overdue orders are marked ⚠️ and shown first. In a group, a head runs /bind once to make it the "
        "department's chat: new orders for the department appear there."
    )


def help_keyboard(page: int) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    if page == 0:
        kb.button(text=_("Next »"), callback_data=HelpPage(p=1))
    else:
        kb.button(text=_("« Back"), callback_data=HelpPage(p=0))
    return kb.as_markup()


async def show_help(message: Message) -> None:
    await message.answer(help_text(0), reply_markup=help_keyboard(0))


async def help_page(callback: CallbackQuery, callback_data: HelpPage) -> None:
    page = 1 if callback_data.p else 0
    if isinstance(callback.message, Message):
        await callback.message.edit_text(help_text(page), reply_markup=help_keyboard(page))
    await callback.answer()


async def choose_language(message: Message) -> None:
    await message.answer(_("Choose the language:"), reply_markup=language_picker())


async def set_language(
    callback: CallbackQuery, callback_data: PickLang, uow: UnitOfWork, user: UserInfo | None, i18n: I18n
) -> None:
    if user is None:
        await callback.answer(_("Send /start first."), show_alert=True)
        return
    await users.set_language(uow, callback.from_user.id, callback_data.lang)
    with i18n.use_locale(callback_data.lang):
        await callback.answer(_("Language changed."))
        if isinstance(callback.message, Message):
            await callback.message.answer(_("Language changed."), reply_markup=main_menu(user.actor))


async def cancel(
    message: Message, state: FSMContext, bot: Bot, fsm_storage: BaseStorage, user: UserInfo | None
) -> None:
    """/cancel abandons whatever dialog is open: a half-made order and a reason or report being typed."""
    assert message.from_user is not None
    side = input_context(bot, fsm_storage, message.from_user.id)
    had = await state.get_state() or await side.get_state()
    await state.clear()
    await side.clear()
    text = _("Cancelled.") if had else _("There is nothing to cancel.")
    await message.answer(text, reply_markup=main_menu(user.actor if user else None))


async def start_in_group(message: Message) -> None:
    await message.reply(_("Write to me in a private chat to start."))


def setup() -> Router:
    router = Router(name=__name__)
    private = F.chat.type == "private"
    router.message.register(start, CommandStart(), private)
    router.message.register(start_in_group, CommandStart(), ~private)
    router.message.register(show_help, Command("help"))
    router.message.register(show_help, private, F.text == HELP)
    router.callback_query.register(help_page, HelpPage.filter())
    router.message.register(choose_language, Command("lang"), private)
    router.callback_query.register(set_language, PickLang.filter())
    router.message.register(cancel, Command("cancel"), private)
    return router
