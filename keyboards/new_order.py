"""Keyboards of the guided dialog that issues a new order, and the department tree helpers they need.

Callback data carries ids and short codes only; the draft itself lives in the FSM state on the server.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from enum import StrEnum
from typing import TypeVar

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.domain.deadlines import Quick
from bot.domain.states import Priority
from bot.render import PRIORITY_ICON, priority_name
from bot.services.dto import DepartmentInfo

# Departments (or controllers) per page: with the "open" buttons a page stays under ~20 buttons.
PAGE_SIZE = 8

T = TypeVar("T")


class Step(StrEnum):
    """The steps of the dialog that the confirm screen can jump back to."""

    DEPARTMENTS = "dept"
    TEXT = "text"
    DEADLINE = "due"
    PRIORITY = "prio"
    CONTROLLER = "ctrl"


class DeptToggle(CallbackData, prefix="nd"):
    """Select or unselect an executor department."""

    d: int


class DeptNav(CallbackData, prefix="nu"):
    """Show department `d`'s level (0: the top) at page `p`; `s=1`: page `p` of the search results instead."""

    d: int = 0
    p: int = 0
    s: int = 0


class DeadlinePick(CallbackData, prefix="nq"):
    q: str  # a Quick value


class PriorityPick(CallbackData, prefix="np"):
    p: str  # a Priority value


class ControllerPick(CallbackData, prefix="nc"):
    """Put the order on control of user `u` (0: no control)."""

    u: int


class ControllerPage(CallbackData, prefix="nk"):
    p: int


class EditStep(CallbackData, prefix="ne"):
    """From the confirm screen, go back to one step (`s` is a Step value); the step returns to the summary."""

    s: str


class DialogAct(CallbackData, prefix="na"):
    """`done` (departments chosen), `next` (text complete), `back` (to the summary unchanged), `issue`, `cancel`."""

    a: str


# Every button of the dialog, for answering stale presses after the draft is gone.
ALL_CALLBACKS: tuple[type[CallbackData], ...] = (
    DeptToggle,
    DeptNav,
    DeadlinePick,
    PriorityPick,
    ControllerPick,
    ControllerPage,
    EditStep,
    DialogAct,
)


# --- the department tree ------------------------------------------------------------------------------------


def page_of(items: Sequence[T], page: int, size: int = PAGE_SIZE) -> tuple[list[T], int, int]:
    """The items of `page` (clamped into range), the page actually shown and the number of pages."""
    pages = max(1, math.ceil(len(items) / size))
    page = min(max(page, 0), pages - 1)
    return list(items[page * size : (page + 1) * size]), page, pages


def top_node(depts: Sequence[DepartmentInfo]) -> int:
    """Where browsing starts: the single root of the tree (the head of the municipality), else the top level."""
    roots = [d for d in depts if d.parent_id is None]
    return roots[0].id if len(roots) == 1 else 0


def level(depts: Sequence[DepartmentInfo], node: int) -> list[DepartmentInfo]:
    """What the level of `node` shows: the node itself (it can be chosen too), then its children.
    Node 0 is the top level: every root."""
    if node == 0:
        return [d for d in depts if d.parent_id is None]
    own = [d for d in depts if d.id == node]
    return own + [d for d in depts if d.parent_id == node]


def path(depts: Sequence[DepartmentInfo], node: int) -> list[DepartmentInfo]:
    """The chain from the root down to `node` (for the breadcrumb)."""
    by_id = {d.id: d for d in depts}
    chain: list[DepartmentInfo] = []
    current = by_id.get(node)
    while current is not None and current not in chain:
        chain.append(current)
        current = by_id.get(current.parent_id) if current.parent_id is not None else None
    return chain[::-1]


def parent_node(depts: Sequence[DepartmentInfo], node: int) -> int | None:
    """Where "up" leads from `node`, or None when `node` is already where browsing starts."""
    if node == 0 or node == top_node(depts):
        return None
    by_id = {d.id: d for d in depts}
    dept = by_id.get(node)
    if dept is None or dept.parent_id is None:
        return 0
    return dept.parent_id


def search(depts: Sequence[DepartmentInfo], query: str) -> list[DepartmentInfo]:
    """Departments whose name, English name or code contains `query` (case-insensitive)."""
    q = query.strip().casefold()
    if not q:
        return []
    return [d for d in depts if any(q in (s or "").casefold() for s in (d.name, d.name_en, d.code))]


# --- keyboards ----------------------------------------------------------------------------------------------


def _cancel() -> InlineKeyboardButton:
    return InlineKeyboardButton(text=_("✖️ Cancel"), callback_data=DialogAct(a="cancel").pack())


def _back() -> InlineKeyboardButton:
    return InlineKeyboardButton(text=_("« Back to the summary"), callback_data=DialogAct(a="back").pack())


def _pager(page: int, pages: int, make: type[CallbackData], **fields: int) -> list[InlineKeyboardButton]:
    """◀️ / ▶️ for `make(**fields, p=...)` with the page numbers on them; empty when everything fits on one page."""
    row = []
    if page > 0:
        text = f"◀️ {page}/{pages}"
        row.append(InlineKeyboardButton(text=text, callback_data=make(**fields, p=page - 1).pack()))
    if page + 1 < pages:
        text = f"{page + 2}/{pages} ▶️"
        row.append(InlineKeyboardButton(text=text, callback_data=make(**fields, p=page + 1).pack()))
    return row


def departments_keyboard(
    depts: Sequence[DepartmentInfo],
    selected: Collection[int],
    *,
    node: int,
    page: int,
    query: str,
    locale: str,
) -> InlineKeyboardMarkup:
    """Toggles for one level of the tree (or for the search results), "open" buttons for nodes with children,
    up/back, paging, Done (once something is selected) and Cancel."""
    items = search(depts, query) if query else level(depts, node)
    shown, page, pages = page_of(items, page)
    parents = {d.parent_id for d in depts}
    kb = InlineKeyboardBuilder()
    for d in shown:
        mark = "☑️" if d.id in selected else "⬜️"
        row = [InlineKeyboardButton(text=f"{mark} {d.title(locale)}", callback_data=DeptToggle(d=d.id).pack())]
        if d.id in parents and (query or d.id != node):
            row.append(InlineKeyboardButton(text="📂 ›", callback_data=DeptNav(d=d.id).pack()))
        kb.row(*row)
    if pager := _pager(page, pages, DeptNav, d=node, s=1 if query else 0):
        kb.row(*pager)
    if query:
        kb.row(InlineKeyboardButton(text=_("« Back to the list"), callback_data=DeptNav(d=node).pack()))
    elif (up := parent_node(depts, node)) is not None:
        kb.row(InlineKeyboardButton(text=_("« Up"), callback_data=DeptNav(d=up).pack()))
    last = []
    if selected:
        last.append(
            InlineKeyboardButton(
                text=_("✅ Done ({count})").format(count=len(selected)), callback_data=DialogAct(a="done").pack()
            )
        )
    last.append(_cancel())
    kb.row(*last)
    return kb.as_markup()


def text_keyboard(can_continue: bool, editing: bool) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    if can_continue:
        kb.row(InlineKeyboardButton(text=_("Next ▶️"), callback_data=DialogAct(a="next").pack()))
    kb.row(*([_back()] if editing else []), _cancel())
    return kb.as_markup()


def deadline_keyboard(editing: bool) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    labels = {
        Quick.TODAY: _("Today"),
        Quick.TOMORROW: _("Tomorrow"),
        Quick.IN_3_DAYS: _("In 3 days"),
        Quick.IN_A_WEEK: _("In a week"),
    }
    for quick, label in labels.items():
        kb.button(text=label, callback_data=DeadlinePick(q=quick.value))
    kb.adjust(2)
    kb.row(*([_back()] if editing else []), _cancel())
    return kb.as_markup()


def priority_keyboard(current: Priority | None, editing: bool) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for prio in Priority:
        mark = " ✓" if prio == current else ""
        kb.button(text=f"{PRIORITY_ICON[prio]} {priority_name(prio)}{mark}", callback_data=PriorityPick(p=prio.value))
    kb.adjust(2)
    kb.row(*([_back()] if editing else []), _cancel())
    return kb.as_markup()


def controller_keyboard(
    people: Sequence[tuple[int, str]], current: int, page: int, editing: bool
) -> InlineKeyboardMarkup:
    """One button per controller (id, full name), paged; "No control" first."""
    shown, page, pages = page_of(people, page)
    kb = InlineKeyboardBuilder()
    kb.row(
        InlineKeyboardButton(
            text=_("No control") + (" ✓" if current == 0 else ""), callback_data=ControllerPick(u=0).pack()
        )
    )
    for user_id, name in shown:
        mark = " ✓" if user_id == current else ""
        kb.row(InlineKeyboardButton(text=f"🎯 {name}{mark}", callback_data=ControllerPick(u=user_id).pack()))
    if pager := _pager(page, pages, ControllerPage):
        kb.row(*pager)
    kb.row(*([_back()] if editing else []), _cancel())
    return kb.as_markup()


def confirm_keyboard() -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.row(InlineKeyboardButton(text=_("📨 Issue"), callback_data=DialogAct(a="issue").pack()))
    edits = {
        Step.DEPARTMENTS: _("✏️ Departments"),
        Step.TEXT: _("✏️ Text"),
        Step.DEADLINE: _("✏️ Deadline"),
        Step.PRIORITY: _("✏️ Priority"),
        Step.CONTROLLER: _("✏️ Control"),
    }
    for step, label in edits.items():
        kb.button(text=label, callback_data=EditStep(s=step.value))
    kb.adjust(1, 2, 2, 1)
    kb.row(_cancel())
    return kb.as_markup()
