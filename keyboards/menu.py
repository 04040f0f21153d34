"""The persistent reply keyboard of the private chat and the language picker."""

from __future__ import annotations

from aiogram.types import InlineKeyboardMarkup, KeyboardButton, ReplyKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import lazy_gettext as __
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.domain.policy import Actor, can_issue, can_use_control
from keyboards.callbacks import PickLang

# Lazy labels, for the filters that recognise a pressed menu button in the user's language.
NEW_ORDER = __("➕ New order")
INBOX = __("📥 Inbox")
OUTBOX = __("📤 Outbox")
CONTROL = __("🎯 Control")
HELP = __("❓ Help")


def menu_labels() -> set[str]:
    """The main menu's labels in the current language (a press is not dialog input)."""
    return {str(label) for label in (NEW_ORDER, INBOX, OUTBOX, CONTROL, HELP)}


def main_menu(actor: Actor | None) -> ReplyKeyboardMarkup:
    rows: list[list[KeyboardButton]] = []
    if actor is not None and can_issue(actor):
        rows.append([KeyboardButton(text=_("➕ New order"))])
    rows.append([KeyboardButton(text=_("📥 Inbox")), KeyboardButton(text=_("📤 Outbox"))])
    if actor is not None and can_use_control(actor):
        rows.append([KeyboardButton(text=_("🎯 Control")), KeyboardButton(text=_("❓ Help"))])
    else:
        rows.append([KeyboardButton(text=_("❓ Help"))])
    return ReplyKeyboardMarkup(keyboard=rows, resize_keyboard=True, is_persistent=True)


def language_picker() -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text="🇷🇺 Русский", callback_data=PickLang(lang="ru"))
    kb.button(text="🇬🇧 English", callback_data=PickLang(lang="en"))
    return kb.as_markup()
