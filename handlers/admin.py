"""Administration in the chat: invites, join requests and binding a department's group chat."""

from __future__ import annotations

from html import escape

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, ChatMemberUpdated, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _

from bot import render
from bot.domain.errors import NotAllowed
from bot.domain.policy import Actor, Role, can_administer, invitable_roles
from bot.i18n import current_locale, fmt_datetime
from bot.render import role_name
from bot.services import users
from bot.services.context import AppContext
from bot.services.dto import InviteInfo
from handlers.filters import Active
from keyboards.admin import departments_picker, invites_keyboard, join_request_keyboard, roles_picker, uses_picker
from keyboards.callbacks import ApproveCb, InviteCb
from storage.uow import UnitOfWork


async def invite(message: Message, actor: Actor, uow: UnitOfWork) -> None:
    """/invite: an admin picks a department, a head invites into their own; then the role."""
    if actor.role == Role.ADMIN:
        depts = await users.departments(uow)
        await message.answer(
            _("Invite into which department?"), reply_markup=departments_picker(depts, InviteCb, op="d")
        )
    elif actor.is_manager and actor.department_id is not None:
        await message.answer(
            _("Invite with which role?"),
            reply_markup=roles_picker(invitable_roles(actor), InviteCb, op="r", d=actor.department_id),
        )
    else:
        raise NotAllowed("invite")


def invite_text(info: InviteInfo, bot_username: str, ctx: AppContext) -> str:
    link = f"https://t.me/{bot_username}?start={info.token}"
    if info.max_uses is None:
        uses = _("for any number of people")
    else:
        uses = _("for {count} person", "for {count} people", info.max_uses).format(count=info.max_uses)
    return _(
        "Invite to «{department}» as {role}, valid until {until}, {uses}:\n{link}\n\n"
        "Send this link to the employee. /invites lists active invites."
    ).format(
        department=escape(info.department_name),
        role=role_name(info.role),
        until=fmt_datetime(info.expires_at, ctx.tz),
        uses=uses,
        link=link,
    )


async def invite_step(
    callback: CallbackQuery, callback_data: InviteCb, bot: Bot, actor: Actor, ctx: AppContext, uow: UnitOfWork
) -> None:
    if callback_data.op == "d":
        if not can_administer(actor):
            raise NotAllowed("invite")
        markup = roles_picker(invitable_roles(actor), InviteCb, op="r", d=callback_data.d)
        if isinstance(callback.message, Message):
            await callback.message.edit_text(_("Invite with which role?"), reply_markup=markup)
        await callback.answer()
    elif callback_data.op == "r":
        role = users.check_role(callback_data.r)
        if isinstance(callback.message, Message):
            await callback.message.edit_text(
                _("How many people may join with this link?"), reply_markup=uses_picker(callback_data.d, role)
            )
        await callback.answer()
    elif callback_data.op == "u":
        role = users.check_role(callback_data.r)
        uses = callback_data.n or None
        info = await users.create_invite(ctx, uow, actor, callback_data.d, role, max_uses=uses)
        me = await bot.me()
        if isinstance(callback.message, Message):
            await callback.message.edit_text(invite_text(info, me.username or "", ctx))
        await callback.answer()
    elif callback_data.op == "x":
        info = await users.revoke_invite(ctx, uow, actor, callback_data.id)
        await callback.answer(_("Invite to «{department}» revoked.").format(department=info.department_name))
        if isinstance(callback.message, Message):
            text, invites_markup = await _invites_view(actor, ctx, uow)
            await callback.message.edit_text(text, reply_markup=invites_markup)
    else:
        await callback.answer(_("This button is no longer valid."), show_alert=True)


async def _invites_view(actor: Actor, ctx: AppContext, uow: UnitOfWork) -> tuple[str, InlineKeyboardMarkup | None]:
    invites = await users.list_invites(ctx, uow, actor)
    if not invites:
        return _("There are no active invites."), None
    lines = [_("<b>Active invites</b>")]
    for i in invites:
        lines.append(f"• {escape(i.department_name)}, {role_name(i.role)}, {fmt_datetime(i.expires_at, ctx.tz)}")
    return "\n".join(lines), invites_keyboard(invites)


async def list_invites(message: Message, actor: Actor, ctx: AppContext, uow: UnitOfWork) -> None:
    text, markup = await _invites_view(actor, ctx, uow)
    await message.answer(text, reply_markup=markup)


async def pending(message: Message, actor: Actor, uow: UnitOfWork) -> None:
    people = await users.pending_users(uow, actor)
    if not people:
        await message.answer(_("No one is waiting for approval."))
        return
    for p in people:
        await message.answer(render.join_request(p.full_name, None), reply_markup=join_request_keyboard(p.id))


async def approve_step(
    callback: CallbackQuery, callback_data: ApproveCb, actor: Actor, ctx: AppContext, uow: UnitOfWork
) -> None:
    if not can_administer(actor):
        raise NotAllowed("approve")
    msg = callback.message if isinstance(callback.message, Message) else None
    if callback_data.op == "d":
        depts = await users.departments(uow)
        if msg:
            await msg.edit_reply_markup(reply_markup=departments_picker(depts, ApproveCb, op="r", u=callback_data.u))
        await callback.answer(_("Which department?"))
    elif callback_data.op == "r" and not callback_data.r:
        markup = roles_picker(tuple(Role), ApproveCb, op="r", u=callback_data.u, d=callback_data.d)
        if msg:
            await msg.edit_reply_markup(reply_markup=markup)
        await callback.answer(_("Which role?"))
    elif callback_data.op == "r":
        role = users.check_role(callback_data.r)
        info = await users.approve(ctx, uow, actor, callback_data.u, callback_data.d, role)
        if msg:
            await msg.edit_text(
                _("{name} approved: {role} in «{department}».").format(
                    name=escape(info.full_name),
                    role=role_name(info.role),
                    department=escape(info.department_name or ""),
                )
            )
        await callback.answer()
    elif callback_data.op == "n":
        await users.reject(ctx, uow, actor, callback_data.u)
        if msg:
            await msg.edit_text(_("Request rejected."))
        await callback.answer()
    else:
        await callback.answer(_("This button is no longer valid."), show_alert=True)


async def bind(message: Message, command: CommandObject, actor: Actor, uow: UnitOfWork) -> None:
    """/bind [CODE] in a group: this group becomes the department's chat."""
    dept = await users.bind_chat(uow, actor, message.chat.id, command.args)
    await message.answer(
        _("This chat now receives the orders of «{department}».").format(
            department=escape(dept.title(current_locale()))
        )
    )


async def bind_private(message: Message) -> None:
    await message.answer(_("Run /bind in your department's group chat, after adding me there."))


async def bot_removed(event: ChatMemberUpdated, uow: UnitOfWork) -> None:
    if event.new_chat_member.status in ("left", "kicked"):
        await users.unbind_chat(uow, event.chat.id)


def setup() -> Router:
    router = Router(name=__name__)
    router.my_chat_member.register(bot_removed)
    router.message.filter(Active())
    router.callback_query.filter(Active())
    private = F.chat.type == "private"
    router.message.register(invite, Command("invite"), private)
    router.message.register(list_invites, Command("invites"), private)
    router.message.register(pending, Command("pending"), private)
    router.callback_query.register(invite_step, InviteCb.filter())
    router.callback_query.register(approve_step, ApproveCb.filter())
    router.message.register(bind, Command("bind"), ~private)
    router.message.register(bind_private, Command("bind"), private)
    return router
