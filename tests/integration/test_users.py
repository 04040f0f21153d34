"""People: invites, join requests and their approval, chat binding, language."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from bot.domain.errors import BadInput, NotAllowed, NotFound
from bot.domain.policy import Role
from bot.services import users
from bot.services.context import AppContext
from bot.services.users import TelegramProfile
from storage.models import OutboxMessage
from storage.uow import UnitOfWork
from tests import factories as f

ARCH_DEPUTY = 100000030


def profile(tg: int, name: str = "Новый Сотрудник", lang: str | None = "ru") -> TelegramProfile:
    return TelegramProfile(tg, name, username=f"user{tg}", language_code=lang)


async def test_invite_create_and_redeem(uow: UnitOfWork, ctx: AppContext, demo: dict) -> None:
    codes = await f.dept_ids(uow)
    head = await f.actor(uow, f.head_of(demo, "ARCH"))
    inv = await users.create_invite(ctx, uow, head, codes["ARCH"], Role.EMPLOYEE)
    assert (inv.role, inv.uses, inv.max_uses, inv.revoked) == (Role.EMPLOYEE, 0, 1, False)
    assert inv.expires_at == ctx.clock.now() + timedelta(days=7)
    assert inv.department_name == "Управление архитектуры и градостроительства"
    assert len(inv.token) >= 16

    result = await users.start(ctx, uow, profile(700001, lang="en-GB"), inv.token)
    assert result.outcome == "joined" and result.reason is None
    assert result.user is not None and result.user.active
    assert (result.user.department_id, result.user.role, result.user.language) == (codes["ARCH"], Role.EMPLOYEE, "en")
    assert result.user.actor is not None and result.user.actor.department_id == codes["ARCH"]
    # The same person again is simply a registered user, whatever token they bring.
    again = await users.start(ctx, uow, profile(700001), inv.token)
    assert again.outcome == "registered"
    # A second person finds the single-use invite used up.
    other = await users.start(ctx, uow, profile(700002), inv.token)
    assert (other.outcome, other.reason, other.user) == ("invite_invalid", "used_up", None)
    assert await users.get_user(uow, 700002) is None


async def test_invalid_invites(uow: UnitOfWork, ctx: AppContext, demo: dict) -> None:
    codes = await f.dept_ids(uow)
    head = await f.actor(uow, f.head_of(demo, "ARCH"))
    short = await users.create_invite(ctx, uow, head, codes["ARCH"], Role.DEPUTY, ttl=timedelta(hours=1))
    revoked = await users.create_invite(ctx, uow, head, codes["ARCH"], Role.EMPLOYEE)
    assert (await users.revoke_invite(ctx, uow, head, revoked.id)).revoked

    assert (await users.start(ctx, uow, profile(700010), "no-such-token")).reason == "unknown"
    assert (await users.start(ctx, uow, profile(700011), revoked.token)).reason == "revoked"
    ctx.clock.advance(timedelta(hours=1))  # type: ignore[attr-defined]
    late = await users.start(ctx, uow, profile(700012), short.token)
    assert (late.outcome, late.reason) == ("invite_invalid", "expired")
    for tg in (700010, 700011, 700012):
        assert await users.get_user(uow, tg) is None


async def test_reusable_invite(uow: UnitOfWork, ctx: AppContext, demo: dict) -> None:
    codes = await f.dept_ids(uow)
    admin = await f.actor(uow, f.ADMIN_TG)
    unlimited = await users.create_invite(ctx, uow, admin, codes["LAW"], Role.HEAD, max_uses=None)
    three = await users.create_invite(ctx, uow, admin, codes["LAW"], Role.EMPLOYEE, max_uses=3)
    for tg in range(700020, 700025):
        assert (await users.start(ctx, uow, profile(tg), unlimited.token)).outcome == "joined"
    outcomes = [(await users.start(ctx, uow, profile(tg), three.token)).outcome for tg in range(700030, 700034)]
    assert outcomes == ["joined", "joined", "joined", "invite_invalid"]
    joined = await users.get_user(uow, 700020)
    assert joined is not None and joined.role == Role.HEAD


async def test_invite_permissions(uow: UnitOfWork, ctx: AppContext, demo: dict) -> None:
    codes = await f.dept_ids(uow)
    head = await f.actor(uow, f.head_of(demo, "ARCH"))
    deputy = await f.actor(uow, ARCH_DEPUTY)
    worker = await f.actor(uow, f.first_with(demo, "ARCH", "employee"))
    admin = await f.actor(uow, f.ADMIN_TG)
    with pytest.raises(NotAllowed):
        await users.create_invite(ctx, uow, head, codes["LAW"], Role.EMPLOYEE)  # not their department
    with pytest.raises(NotAllowed):
        await users.create_invite(ctx, uow, head, codes["ARCH"], Role.HEAD)  # heads invite employees or deputies
    with pytest.raises(NotAllowed):
        await users.create_invite(ctx, uow, deputy, codes["ARCH"], Role.ADMIN)
    with pytest.raises(NotAllowed):
        await users.create_invite(ctx, uow, worker, codes["ARCH"], Role.EMPLOYEE)
    with pytest.raises(BadInput):
        await users.create_invite(ctx, uow, head, codes["ARCH"], Role.EMPLOYEE, max_uses=0)
    with pytest.raises(NotFound):
        await users.create_invite(ctx, uow, admin, 999999, Role.EMPLOYEE)
    inv = await users.create_invite(ctx, uow, deputy, codes["ARCH"], Role.DEPUTY)
    other_head = await f.actor(uow, f.head_of(demo, "LAW"))
    with pytest.raises(NotFound):
        await users.revoke_invite(ctx, uow, other_head, inv.id)
    assert (await users.revoke_invite(ctx, uow, admin, inv.id)).revoked


async def test_join_request_and_approval(uow: UnitOfWork, ctx: AppContext, demo: dict) -> None:
    codes = await f.dept_ids(uow)
    await f.mark_started(ctx, uow, f.ADMIN_TG)
    admin = await f.actor(uow, f.ADMIN_TG)
    head = await f.actor(uow, f.head_of(demo, "ARCH"))

    asked = await users.start(ctx, uow, profile(800001, "Просящий Доступа", lang="en"), None)
    assert asked.outcome == "pending" and asked.user is not None and not asked.user.active
    assert asked.user.status == "pending" and asked.user.department_id is None
    notes = await f.outbox_rows(uow, OutboxMessage.kind == "join_request")
    assert [(n.recipient, n.payload["name"]) for n in notes] == [(str(f.ADMIN_TG), "Просящий Доступа")]
    assert (await users.start(ctx, uow, profile(800001), None)).outcome == "already_pending"
    assert len(await f.outbox_rows(uow, OutboxMessage.kind == "join_request")) == 1

    with pytest.raises(NotAllowed):
        await users.pending_users(uow, head)
    pending = await users.pending_users(uow, admin)
    assert [p.telegram_id for p in pending] == [800001]
    with pytest.raises(NotAllowed):
        await users.approve(ctx, uow, head, pending[0].id, codes["ARCH"], Role.EMPLOYEE)

    approved = await users.approve(ctx, uow, admin, pending[0].id, codes["ARCH"], Role.DEPUTY)
    assert approved.active and approved.role == Role.DEPUTY and approved.department_id == codes["ARCH"]
    told = await f.outbox_rows(uow, OutboxMessage.kind == "join_approved")
    assert [(t.recipient, t.locale, t.user_id) for t in told] == [("800001", "en", pending[0].id)]
    assert told[0].payload == {
        "department": "Управление архитектуры и градостроительства",
        "department_en": next(d["name_en"] for d in demo["departments"] if d["code"] == "ARCH"),
        "role": "deputy",
    }
    assert await f.outbox_rows(uow, OutboxMessage.kind == "join_rejected") == []
    with pytest.raises(NotFound):
        await users.approve(ctx, uow, admin, pending[0].id, codes["ARCH"], Role.DEPUTY)
    assert await users.pending_users(uow, admin) == []
    assert (await users.start(ctx, uow, profile(800001), None)).outcome == "registered"


async def test_join_request_rejected_and_admin_not_started(uow: UnitOfWork, ctx: AppContext, demo: dict) -> None:
    admin = await f.actor(uow, f.ADMIN_TG)
    asked = await users.start(ctx, uow, profile(800002), None)
    assert asked.user is not None
    # The admin never opened the bot: the request waits in the list, no message is queued.
    assert await f.outbox_rows(uow) == []
    with pytest.raises(NotAllowed):
        await users.reject(ctx, uow, await f.actor(uow, f.head_of(demo, "ARCH")), asked.user.id)
    await users.reject(ctx, uow, admin, asked.user.id)
    info = await users.get_user(uow, 800002)
    assert info is not None and info.status == "disabled" and not info.active
    # The rejected person is told, in their language; nothing else is queued.
    told = await f.outbox_rows(uow)
    assert [(t.kind, t.recipient, t.user_id, t.locale, t.order_id) for t in told] == [
        ("join_rejected", "800002", asked.user.id, "ru", None)
    ]
    with pytest.raises(NotFound):
        await users.reject(ctx, uow, admin, asked.user.id)
    # Coming back, they hear that the request was rejected; no new request is filed and nobody is told again.
    again = await users.start(ctx, uow, profile(800002), None)
    assert again.outcome == "rejected" and again.user is not None and again.user.id == asked.user.id
    assert again.user.status == "disabled" and not again.user.active
    assert len(await f.outbox_rows(uow)) == 1
    assert await users.pending_users(uow, admin) == []


async def test_configured_admin_becomes_admin(uow: UnitOfWork, ctx: AppContext, demo: dict) -> None:
    boss = replace(ctx, admin_telegram_ids=frozenset({900001}))
    result = await users.start(boss, uow, profile(900001, "Root"), None)
    assert result.outcome == "admin" and result.user is not None and result.user.role == Role.ADMIN
    assert result.user.active
    assert (await users.start(boss, uow, profile(900002), None)).outcome == "pending"


async def test_bind_chat_permissions(uow: UnitOfWork, ctx: AppContext, demo: dict) -> None:
    codes = await f.dept_ids(uow)
    head = await f.actor(uow, f.head_of(demo, "ARCH"))
    deputy = await f.actor(uow, ARCH_DEPUTY)
    worker = await f.actor(uow, f.first_with(demo, "ARCH", "employee"))
    admin = await f.actor(uow, f.ADMIN_TG)
    zhkh = await f.actor(uow, f.head_of(demo, "ZHKH"))

    assert (await users.bind_chat(uow, head, -1001, None)).id == codes["ARCH"]
    with pytest.raises(NotAllowed):
        await users.bind_chat(uow, worker, -1002, None)
    with pytest.raises(NotAllowed):
        await users.bind_chat(uow, head, -1002, "LAW")
    with pytest.raises(NotAllowed):
        await users.bind_chat(uow, zhkh, -1002, "BLAG")  # a directorate head does not manage its divisions' chats
    with pytest.raises(NotFound):
        await users.bind_chat(uow, admin, -1002, "NOPE")
    assert (await users.bind_chat(uow, deputy, -1003, " arch ")).chat_id == -1003  # replaces the old chat
    assert (await users.bind_chat(uow, admin, -1003, "LAW")).id == codes["LAW"]  # moves the chat to LAW

    chats = {d.code: d.chat_id for d in await users.departments(uow)}
    assert chats["ARCH"] is None and chats["LAW"] == -1003
    assert sum(c is not None for c in chats.values()) == 1
    await users.unbind_chat(uow, -1003)
    await users.unbind_chat(uow, -424242)  # unknown chat: nothing happens
    assert all(d.chat_id is None for d in await users.departments(uow))


async def test_identify_and_language(uow: UnitOfWork, ctx: AppContext, demo: dict) -> None:
    tg = f.head_of(demo, "ARCH")
    assert await users.identify(ctx, uow, TelegramProfile(123, "Чужой")) is None
    info = await users.identify(ctx, uow, TelegramProfile(tg, "x", username="arch_head"))
    assert info is not None and info.active and info.role == Role.HEAD
    assert {u.telegram_id: u.started for u in await f.all_users(uow)}[tg] is True
    await users.set_language(uow, tg, "en")
    assert (await users.get_user(uow, tg)).language == "en"  # type: ignore[union-attr]
    with pytest.raises(BadInput):
        await users.set_language(uow, tg, "de")
    with pytest.raises(NotFound):
        await users.set_language(uow, 123, "ru")
    assert users.check_role("deputy") == Role.DEPUTY
    with pytest.raises(BadInput):
        users.check_role("boss")
