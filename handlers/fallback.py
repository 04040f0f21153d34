"""What nobody else handled: strangers, pending users, unsupported content, stale or forged buttons."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from bot.services.dto import UserInfo


async def private_message(message: Message, user: UserInfo | None) -> None:
    if user is None:
        await message.answer(
            _(
                "Hello! This bot is for the staff of the administration. I do not know you yet: "
                "open the invite link your head gave you, or send /start to ask the administrators for access."
            )
        )
    elif user.status == "disabled":
        await message.answer(_("Your request to join was declined. If this is a mistake, ask your head for an invite."))
    elif not user.active:
        await message.answer(_("Your request is waiting for an administrator. You will get a message here."))
    elif message.text and message.text.startswith("/"):
        await message.answer(_("I do not know this command. /help lists what I can do."))
    elif message.text:
        await message.answer(_("I did not understand. Use the menu below or /help."))
    else:
        await message.answer(
            _("I cannot use this kind of message here. I understand text, documents and photos inside a dialog.")
        )


async def group_message(message: Message, user: UserInfo | None) -> None:
    """Commands addressed to us in a group that no router took."""
    if message.text and message.text.startswith("/"):
        if user is None or not user.active:
            await message.reply(_("I do not know you yet: write to me in a private chat."))
        else:
            await message.reply(_("This command works in the private chat with me."))


async def stale_callback(callback: CallbackQuery, user: UserInfo | None) -> None:
    if user is None or not user.active:
        await callback.answer(_("I do not know you yet: write to me in a private chat."), show_alert=True)
    else:
        await callback.answer(_("This button is no longer valid."), show_alert=True)


def setup() -> Router:
    router = Router(name=__name__)
    router.message.register(private_message, F.chat.type == "private")
    router.message.register(group_message)
    router.callback_query.register(stale_callback)
    return router
