"""People and departments: registration, invites, approval of join requests, chat binding, language."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from bot.domain.errors import BadInput, NotAllowed, NotFound
from bot.domain.policy import Actor, Role, can_administer, can_manage_department, invitable_roles
from bot.services.context import AppContext
from bot.services.dto import DepartmentInfo, InviteInfo, UserInfo
from storage.models import Department, Invite, OutboxMessage, User
from storage.uow import UnitOfWork

SUPPORTED_LOCALES = ("ru", "en")


@dataclass(frozen=True)
class TelegramProfile:
    """Who wrote to the bot, as Telegram describes them."""

    telegram_id: int
    full_name: str
    username: str | None = None
    language_code: str | None = None


def dept_info(d: Department) -> DepartmentInfo:
    return DepartmentInfo(d.id, d.code, d.name, d.name_en, d.parent_id, d.chat_id, d.employees_can_accept)


async def user_info(uow: UnitOfWork, user: User) -> UserInfo:
    """A user as handlers see them, with the policy's Actor when they are active."""
    dept = await uow.departments.cached(user.department_id)
    actor = None
    if user.status == "active":
        subtree = await uow.departments.subtree(user.department_id) if user.department_id else frozenset()
        actor = Actor(user.id, Role(user.role), user.department_id, subtree)
    return UserInfo(
        id=user.id,
        telegram_id=user.telegram_id,
        full_name=user.full_name,
        role=Role(user.role),
        status=user.status,
        department_id=user.department_id,
        department_name=dept.name if dept else None,
        language=user.language or user.telegram_language,
        actor=actor,
    )


def _supported(code: str | None) -> str | None:
    code = (code or "")[:2].lower()
    return code if code in SUPPORTED_LOCALES else None


def locale_for(user: User | None, ctx: AppContext, language_code: str | None = None) -> str:
    """The language to speak to a user: chosen with /lang, else their Telegram app's, else the default."""
    if user is not None and user.language:
        return user.language
    if user is not None and user.telegram_language:
        return user.telegram_language
    return _supported(language_code) or ctx.default_locale


async def identify(ctx: AppContext, uow: UnitOfWork, profile: TelegramProfile) -> UserInfo | None:
    """Who is this Telegram user to us (None: unknown). Remembers that they have a chat with the bot."""
    tg_language = _supported(profile.language_code)

    def stale(user: User) -> bool:
        return (
            not user.started
            or user.username != profile.username
            or (tg_language is not None and tg_language != user.telegram_language)
        )

    async with uow.reading() as reader:  # the usual case: nothing to remember, no writer lock
        user = await reader.users.by_telegram_id(profile.telegram_id)
        if user is None:
            return None
        if not stale(user):
            return await user_info(reader, user)
    async with uow:
        user = await uow.users.by_telegram_id(profile.telegram_id)
        if user is None:
            return None
        user.started, user.username = True, profile.username
        user.telegram_language = tg_language or user.telegram_language
        info = await user_info(uow, user)
        await uow.commit()
        return info


async def get_user(uow: UnitOfWork, telegram_id: int) -> UserInfo | None:
    async with uow.reading() as uow:
        user = await uow.users.by_telegram_id(telegram_id)
        return await user_info(uow, user) if user else None


def _tell(ctx: AppContext, uow: UnitOfWork, user: User, kind: str, payload: dict[str, Any]) -> None:
    """A notification about people (not about an order) through the outbox, in the user's language."""
    if user.telegram_id is None:
        return
    now = ctx.clock.now()
    uow.outbox.add(
        OutboxMessage(
            recipient=str(user.telegram_id),
            user_id=user.id,
            locale=locale_for(user, ctx),
            kind=kind,
            payload=payload,
            next_attempt_at=now,
            created_at=now,
        )
    )


@dataclass(frozen=True)
class StartResult:
    outcome: str  # registered | joined | pending | already_pending | rejected | invite_invalid | admin
    user: UserInfo | None = None
    reason: str | None = None  # for invite_invalid: unknown | expired | revoked | used_up


async def _activate(
    uow: UnitOfWork, user: User | None, profile: TelegramProfile, department_id: int | None, role: str
) -> UserInfo:
    """Make the Telegram user an active member with `role` (creating the row if needed)."""
    if user is None:
        user = User(telegram_id=profile.telegram_id, full_name=profile.full_name)
        uow.users.add(user)
    user.username = profile.username
    user.department_id = department_id
    user.role = role
    user.status = "active"
    user.started = True
    user.telegram_language = _supported(profile.language_code) or user.telegram_language
    await uow.flush()
    return await user_info(uow, user)


def _invite_problem(invite: Invite | None, now: datetime) -> str | None:
    if invite is None:
        return "unknown"
    if invite.revoked_at is not None:
        return "revoked"
    if invite.expires_at <= now:
        return "expired"
    if invite.max_uses is not None and invite.uses >= invite.max_uses:
        return "used_up"
    return None


async def start(ctx: AppContext, uow: UnitOfWork, profile: TelegramProfile, token: str | None) -> StartResult:
    """/start [token]: greet a known user, join by invite, or file a join request for admin approval.

    People in ADMIN_IDS who are not in the organisation yet become administrators; people already in it keep
    the role the organisation file gives them."""
    now = ctx.clock.now()
    async with uow:
        user = await uow.users.by_telegram_id(profile.telegram_id)
        if user is not None and user.status == "active":
            info = await _activate(uow, user, profile, user.department_id, user.role)
            await uow.commit()
            return StartResult("registered", info)
        if token:
            invite = await uow.invites.by_token(token)
            problem = _invite_problem(invite, now)
            if problem or invite is None:
                return StartResult("invite_invalid", reason=problem)
            invite.uses += 1
            info = await _activate(uow, user, profile, invite.department_id, invite.role)
            await uow.commit()
            return StartResult("joined", info)
        if profile.telegram_id in ctx.admin_telegram_ids:
            info = await _activate(uow, user, profile, user.department_id if user else None, Role.ADMIN.value)
            await uow.commit()
            return StartResult("admin", info)
        if user is not None:
            outcome = "rejected" if user.status == "disabled" else "already_pending"
            return StartResult(outcome, await user_info(uow, user))
        user = User(
            telegram_id=profile.telegram_id,
            full_name=profile.full_name,
            username=profile.username,
            status="pending",
            started=True,
            telegram_language=_supported(profile.language_code),
        )
        uow.users.add(user)
        await uow.flush()
        for admin in await uow.users.with_role(Role.ADMIN.value):
            if admin.started:
                _tell(
                    ctx,
                    uow,
                    admin,
                    "join_request",
                    {"user_id": user.id, "name": user.full_name, "username": user.username},
                )
        info = await user_info(uow, user)
        await uow.commit()
        return StartResult("pending", info)


async def set_language(uow: UnitOfWork, telegram_id: int, language: str) -> None:
    if language not in SUPPORTED_LOCALES:
        raise BadInput("language")
    async with uow:
        user = await uow.users.by_telegram_id(telegram_id)
        if user is None:
            raise NotFound("user")
        user.language = language
        await uow.commit()


async def departments(uow: UnitOfWork) -> list[DepartmentInfo]:
    async with uow.reading() as uow:
        return [dept_info(d) for d in await uow.departments.all()]


async def staff(uow: UnitOfWork, department_id: int) -> list[UserInfo]:
    async with uow.reading() as uow:
        return [await user_info(uow, u) for u in await uow.users.in_department(department_id)]


def _invite_info(inv: Invite, dept: Department) -> InviteInfo:
    return InviteInfo(
        inv.id,
        inv.token,
        dept.name,
        Role(inv.role),
        inv.expires_at,
        inv.max_uses,
        inv.uses,
        inv.revoked_at is not None,
    )


async def create_invite(
    ctx: AppContext,
    uow: UnitOfWork,
    actor: Actor,
    department_id: int,
    role: Role,
    *,
    ttl: timedelta = timedelta(days=7),
    max_uses: int | None = 1,
) -> InviteInfo:
    """An expiring invite link for a department and role. Heads invite into their own department only,
    and only employees or deputies; admins invite anyone anywhere."""
    if not can_manage_department(actor, department_id) or role not in invitable_roles(actor):
        raise NotAllowed("invite")
    if max_uses is not None and max_uses < 1:
        raise BadInput("max_uses")
    now = ctx.clock.now()
    async with uow:
        dept = await uow.departments.get(department_id)
        if dept is None:
            raise NotFound("department")
        inv = Invite(
            token=secrets.token_urlsafe(12),
            department_id=department_id,
            role=role.value,
            created_by_id=actor.user_id,
            created_at=now,
            expires_at=now + ttl,
            max_uses=max_uses,
        )
        uow.invites.add(inv)
        await uow.flush()
        info = _invite_info(inv, dept)
        await uow.commit()
        return info


async def revoke_invite(ctx: AppContext, uow: UnitOfWork, actor: Actor, invite_id: int) -> InviteInfo:
    async with uow:
        inv = await uow.invites.get(invite_id)
        if inv is None or not can_manage_department(actor, inv.department_id):
            raise NotFound("invite")
        inv.revoked_at = inv.revoked_at or ctx.clock.now()
        dept = await uow.departments.get(inv.department_id)
        assert dept is not None
        info = _invite_info(inv, dept)
        await uow.commit()
        return info


async def pending_users(uow: UnitOfWork, actor: Actor) -> list[UserInfo]:
    if not can_administer(actor):
        raise NotAllowed("pending")
    async with uow.reading() as uow:
        return [await user_info(uow, u) for u in await uow.users.pending()]


async def approve(
    ctx: AppContext, uow: UnitOfWork, actor: Actor, user_id: int, department_id: int, role: Role
) -> UserInfo:
    """An admin approves a join request: the user gets a department and a role, and is told so."""
    if not can_administer(actor):
        raise NotAllowed("approve")
    async with uow:
        user = await uow.users.get(user_id)
        dept = await uow.departments.get(department_id)
        if user is None or dept is None or user.status != "pending":
            raise NotFound("user")
        user.status, user.department_id, user.role = "active", department_id, role.value
        payload = {"department": dept.name, "department_en": dept.name_en, "role": role.value}
        _tell(ctx, uow, user, "join_approved", payload)
        await uow.flush()
        info = await user_info(uow, user)
        await uow.commit()
        return info


async def reject(ctx: AppContext, uow: UnitOfWork, actor: Actor, user_id: int) -> None:
    if not can_administer(actor):
        raise NotAllowed("reject")
    async with uow:
        user = await uow.users.get(user_id)
        if user is None or user.status != "pending":
            raise NotFound("user")
        user.status = "disabled"
        _tell(ctx, uow, user, "join_rejected", {})
        await uow.commit()


async def bind_chat(uow: UnitOfWork, actor: Actor, chat_id: int, department_code: str | None) -> DepartmentInfo:
    """/bind in a group: the group becomes the department's chat (one chat per department and vice versa)."""
    async with uow:
        if department_code:
            dept = await uow.departments.by_code(department_code.strip().upper())
        else:
            dept = await uow.departments.get(actor.department_id) if actor.department_id else None
        if dept is None:
            raise NotFound("department")
        if not can_manage_department(actor, dept.id):
            raise NotAllowed("bind")
        previous = await uow.departments.by_chat(chat_id)
        if previous is not None and previous.id != dept.id:
            previous.chat_id = None
            await uow.flush()
        dept.chat_id = chat_id
        info = dept_info(dept)
        await uow.commit()
        return info


async def unbind_chat(uow: UnitOfWork, chat_id: int) -> None:
    """The bot left or was removed from a group: forget the binding."""
    async with uow:
        dept = await uow.departments.by_chat(chat_id)
        if dept is not None:
            dept.chat_id = None
            await uow.commit()


def check_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise BadInput("role", role=value) from None


async def list_invites(ctx: AppContext, uow: UnitOfWork, actor: Actor) -> list[InviteInfo]:
    """Invites still usable: of the actor's department (heads, deputies) or all (admins)."""
    now = ctx.clock.now()
    async with uow.reading() as uow:
        q = select(Invite).where(Invite.revoked_at.is_(None), Invite.expires_at > now)
        if actor.role != Role.ADMIN:
            if not actor.is_manager or actor.department_id is None:
                raise NotAllowed("invites")
            q = q.where(Invite.department_id == actor.department_id)
        invites = (await uow.session.execute(q.order_by(Invite.created_at))).scalars().all()
        depts = await uow.departments.many(i.department_id for i in invites)
        return [_invite_info(i, depts[i.department_id]) for i in invites if i.max_uses is None or i.uses < i.max_uses]


async def controllers(uow: UnitOfWork) -> list[UserInfo]:
    """People who may be put in charge of control of an order."""
    async with uow.reading() as uow:
        return [await user_info(uow, u) for u in await uow.users.with_role(Role.CONTROLLER.value)]
