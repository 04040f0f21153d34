"""Keyboards of order cards, pickers and lists."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.domain.states import Action, Priority, State
from bot.i18n import current_locale
from bot.render import action_label, priority_name, state_name
from bot.services.dto import DepartmentInfo, OrderCard, OrderPage, UserInfo
from keyboards.callbacks import InputDone, ListNav, OrderAct, OrderView, PickExecutor, PickForward

# Extension decisions and the main lifecycle first; comment and history last.
_ORDER = [
    Action.ACCEPT,
    Action.REPORT,
    Action.CLOSE,
    Action.RETURN,
    Action.GRANT_EXTENSION,
    Action.DENY_EXTENSION,
    Action.ASSIGN,
    Action.FORWARD,
    Action.DECLINE,
    Action.REQUEST_EXTENSION,
    Action.COMMENT,
    Action.CANCEL,
]


def card_keyboard(card: OrderCard, actions: Sequence[Action] | None = None) -> InlineKeyboardMarkup:
    allowed = set(card.actions if actions is None else actions)
    kb = InlineKeyboardBuilder()
    for action in _ORDER:
        if action in allowed:
            kb.button(text=action_label(action), callback_data=OrderAct(id=card.id, a=action.value, v=card.version))
    kb.button(text=_("📜 History"), callback_data=OrderView(id=card.id, w="h"))
    kb.button(text=_("🔄 Refresh"), callback_data=OrderView(id=card.id, w="r"))
    kb.adjust(2)
    return kb.as_markup()


def executor_picker(order_id: int, action: Action, version: int, staff: Sequence[UserInfo]) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for person in staff:
        kb.button(
            text=person.full_name, callback_data=PickExecutor(id=order_id, a=action.value, v=version, u=person.id)
        )
    if action == Action.ACCEPT:
        kb.button(
            text=_("Accept, assign later"), callback_data=PickExecutor(id=order_id, a=action.value, v=version, u=0)
        )
    kb.button(text=_("« Back"), callback_data=OrderView(id=order_id, w="r"))
    kb.adjust(1)
    return kb.as_markup()


def forward_picker(
    order_id: int, version: int, departments: Sequence[DepartmentInfo], exclude: int | None
) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for d in departments:
        if d.id != exclude:
            kb.button(text=d.title(current_locale()), callback_data=PickForward(id=order_id, v=version, d=d.id))
    kb.button(text=_("« Back"), callback_data=OrderView(id=order_id, w="r"))
    kb.adjust(1)
    return kb.as_markup()


def input_keyboard(can_submit: bool) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    if can_submit:
        kb.button(text=_("📨 Submit"), callback_data=InputDone(ok=1))
    kb.button(text=_("✖️ Cancel"), callback_data=InputDone(ok=0))
    return kb.as_markup()


def list_keyboard(nav: ListNav, page: OrderPage) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for row in page.items:
        mark = "⚠️ " if row.overdue else ""
        kb.row(InlineKeyboardButton(text=f"{mark}{row.number}", callback_data=OrderView(id=row.id, w="c").pack()))
    nav_row = []
    if page.page > 0:
        nav_row.append(InlineKeyboardButton(text="◀️", callback_data=nav.model_copy(update={"p": page.page - 1}).pack()))
    if page.page + 1 < page.pages:
        nav_row.append(InlineKeyboardButton(text="▶️", callback_data=nav.model_copy(update={"p": page.page + 1}).pack()))
    if nav_row:
        kb.row(*nav_row)
    if nav.box != "find":
        states = ["open", State.NEW.value, State.IN_PROGRESS.value, State.ON_REVIEW.value, ""]
        next_state = states[(states.index(nav.st) + 1) % len(states)] if nav.st in states else "open"
        priorities = ["", Priority.URGENT.value, Priority.HIGH.value]
        next_prio = priorities[(priorities.index(nav.pr) + 1) % len(priorities)] if nav.pr in priorities else ""
        kb.row(
            InlineKeyboardButton(
                text=_("State: {state}").format(state=_filter_state(nav.st)),
                callback_data=nav.model_copy(update={"st": next_state, "p": 0}).pack(),
            ),
            InlineKeyboardButton(
                text=("☑️ " if nav.od else "⬜️ ") + _("Overdue"),
                callback_data=nav.model_copy(update={"od": 0 if nav.od else 1, "p": 0}).pack(),
            ),
            InlineKeyboardButton(
                text=_("Priority: {priority}").format(priority=priority_name(Priority(nav.pr)) if nav.pr else _("any")),
                callback_data=nav.model_copy(update={"pr": next_prio, "p": 0}).pack(),
            ),
        )
    return kb.as_markup()


def _filter_state(st: str) -> str:
    if st == "open":
        return _("open")
    if not st:
        return _("all")
    return state_name(State(st))
