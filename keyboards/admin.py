"""Keyboards of administration: department and role pickers, invites, join requests."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.domain.policy import Role
from bot.i18n import current_locale
from bot.render import role_name
from bot.services.dto import DepartmentInfo, InviteInfo
from keyboards.callbacks import ApproveCb, InviteCb


def departments_picker(
    depts: Sequence[DepartmentInfo], make: type[InviteCb] | type[ApproveCb], **fields: object
) -> InlineKeyboardMarkup:
    """One button per department; `make(d=<id>, **fields)` is its callback data."""
    kb = InlineKeyboardBuilder()
    for d in depts:
        kb.button(text=d.title(current_locale()), callback_data=make(d=d.id, **fields))  # type: ignore[arg-type]
    kb.adjust(1)
    return kb.as_markup()


def roles_picker(
    roles: Sequence[Role], make: type[InviteCb] | type[ApproveCb], **fields: object
) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for r in roles:
        kb.button(text=role_name(r), callback_data=make(r=r.value, **fields))  # type: ignore[arg-type]
    kb.adjust(2)
    return kb.as_markup()


INVITE_USES = (1, 10, 0)  # 0: unlimited


def uses_picker(department_id: int, role: Role) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for n in INVITE_USES:
        label = _("Unlimited") if n == 0 else _("{count} person", "{count} people", n).format(count=n)
        kb.button(text=label, callback_data=InviteCb(op="u", d=department_id, r=role.value, n=n))
    kb.adjust(3)
    return kb.as_markup()


def invites_keyboard(invites: Sequence[InviteInfo]) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    for i in invites:
        kb.button(
            text=_("Revoke: {department}, {role}").format(department=i.department_name[:30], role=role_name(i.role)),
            callback_data=InviteCb(op="x", id=i.id),
        )
    kb.adjust(1)
    return kb.as_markup()


def join_request_keyboard(user_id: int) -> InlineKeyboardMarkup:
    kb = InlineKeyboardBuilder()
    kb.button(text=_("Approve…"), callback_data=ApproveCb(op="d", u=user_id))
    kb.button(text=_("Reject"), callback_data=ApproveCb(op="n", u=user_id))
    return kb.as_markup()
