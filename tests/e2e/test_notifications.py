"""Delivery of notifications: exactly the people concerned, in their language, and robust to what
Telegram answers (a user who blocked the bot, 429 Too Many Requests)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from bot.domain.states import Action
from storage.models import OutboxMessage
from tests.conftest import BotEnv

GLAVA_HEAD = 100000001
CONTROLLER = 100000009


@dataclass(frozen=True)
class Row:
    order_id: int | None
    recipient: str
    status: str
    attempts: int
    last_error: str | None


async def outbox_rows(env: BotEnv) -> list[Row]:
    async with env.uow() as uow:
        rows = (await uow.session.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars()
        return [Row(r.order_id, r.recipient, r.status, r.attempts, r.last_error) for r in rows]


async def test_each_event_reaches_exactly_the_people_concerned_in_their_language(bot_env: BotEnv) -> None:
    env = bot_env
    issuer = await env.started(GLAVA_HEAD)
    controller = await env.started(CONTROLLER, language_code="en")
    head = await env.started(env.head_of("ROADS"))
    worker = await env.started(env.staff_of("ROADS")[0])
    bystander = await env.started(env.staff_of("ROADS")[1])
    before = {u.id: len(env.emu.bot_messages(u.id)) for u in (issuer, controller, head, worker, bystander)}
    controller_actor = await env.actor(CONTROLLER)
    order = await env.issue(GLAVA_HEAD, ["ROADS"], "Проверить ливнёвку", controller_id=controller_actor.user_id)
    # created: the executor department's head and the controller; not the issuer, not the employees.
    assert len(env.emu.bot_messages(head.id)) == before[head.id] + 1
    assert "New order" in env.last(controller.id).content  # English for the controller
    assert len(env.emu.bot_messages(issuer.id)) == before[issuer.id]
    assert len(env.emu.bot_messages(bystander.id)) == before[bystander.id]
    executor = await env.actor(worker.id)
    await env.act(head.id, order.id, Action.ACCEPT, executor_id=executor.user_id)
    await env.act(worker.id, order.id, Action.REPORT, comment="Прочищено")
    # report on an order on control: the issuer and the controller; the controller decides.
    assert "Прочищено" in env.last(issuer.id).content and "Прочищено" in env.last(controller.id).content
    labels = [label for label, _d in env.last(controller.id).buttons]
    assert any("Close" in label for label in labels)
    assert not any("Закрыть" in label for label in [lbl for lbl, _d in env.last(issuer.id).buttons])
    assert len(env.emu.bot_messages(bystander.id)) == before[bystander.id]


async def test_a_user_who_blocked_the_bot_does_not_stop_the_others(bot_env: BotEnv) -> None:
    env = bot_env
    await env.started(GLAVA_HEAD)
    head = await env.started(env.head_of("ROADS"))
    worker = await env.started(env.staff_of("ROADS")[0])
    group = await env.group(-1001000000010, "ROADS", [head, worker])
    await head.send_text("/bind", chat=group)
    await env.idle()
    await head.block_bot()
    await env.idle()
    order = await env.issue(GLAVA_HEAD, ["ROADS"], "Заменить знак")
    assert env.card_in(group.id, order.number)
    rows = [r for r in await outbox_rows(env) if r.order_id == order.id]
    failed = [r for r in rows if r.recipient == str(head.id)]
    assert failed and failed[0].status == "failed" and "blocked" in (failed[0].last_error or "")
    assert all(r.status == "sent" for r in rows if r.recipient == str(group.id))


async def test_too_many_requests_are_retried_after_the_pause_telegram_asks_for(bot_env: BotEnv) -> None:
    env = bot_env
    await env.started(GLAVA_HEAD)
    head = await env.started(env.head_of("ROADS"))
    env.emu.rate_limits = True
    numbers = [(await env.issue(GLAVA_HEAD, ["ROADS"], f"Поручение {i}")).number for i in range(6)]
    assert env.emu.stats["429"] > 0
    pending = [r for r in await outbox_rows(env) if r.status == "pending"]
    # The refused one is rescheduled; the later ones to that chat wait for it without spending attempts.
    assert pending and any(r.attempts >= 1 for r in pending)
    for _ in range(20):
        if not [r for r in await outbox_rows(env) if r.status == "pending"]:
            break
        await asyncio.sleep(1.0)  # Telegram's window is real time
        env.clock.advance(timedelta(seconds=2))
        await env.idle()
    delivered = " ".join(env.texts(head.id))
    assert all(n in delivered for n in numbers)
    positions = [delivered.index(n + " ") for n in numbers]
    assert positions == sorted(positions), "a chat gets its messages in the order they were written"
    assert all(r.status == "sent" for r in await outbox_rows(env))
