"""The order lifecycle through the services on the real database: history, attachments, notifications written in
the same transaction, recipients, and optimistic concurrency."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.orm.exc import StaleDataError

from bot.domain.errors import BadInput, NotAllowed, OrderChanged
from bot.domain.states import Action, State
from bot.services import orders, users
from bot.services.context import AppContext
from bot.services.dto import AttachmentInfo
from storage.db import make_engine, make_session_factory
from storage.models import Counter, Order, OrderEvent, OutboxMessage
from storage.uow import UnitOfWork
from tests import factories as f

FILES = (
    AttachmentInfo("photo", "AgAC-photo-1", None, "image/jpeg", 12345, "uniq-1"),
    AttachmentInfo("document", "BQAC-doc-1", "акт.pdf", "application/pdf", 54321, "uniq-2"),
)


async def _recipients(uow: UnitOfWork, event_id: int) -> set[str]:
    return {r.recipient for r in await f.outbox_rows(uow, OutboxMessage.event_id == event_id)}


async def test_full_lifecycle(uow: UnitOfWork, ctx: AppContext, demo: dict) -> None:
    codes = await f.dept_ids(uow)
    issuer_tg, head_tg = f.head_of(demo, "GLAVA"), f.head_of(demo, "ROADS")
    worker_tg = f.first_with(demo, "ROADS", "employee")
    await f.mark_started(ctx, uow, issuer_tg, head_tg, worker_tg)
    issuer, head, worker = [await f.actor(uow, t) for t in (issuer_tg, head_tg, worker_tg)]
    clock = ctx.clock

    card = await orders.create_order(
        ctx, uow, issuer, f.draft([codes["ROADS"]], ctx=ctx, title="Убрать снег", text="Убрать снег на ул. Мира")
    )
    assert (card.state, card.version, card.executor_department.code if card.executor_department else None) == (
        State.NEW,
        1,
        "ROADS",
    )
    assert Action.CANCEL in card.actions and Action.ACCEPT not in card.actions

    steps: list[tuple[Any, Action, dict[str, Any], State]] = [
        (head, Action.ACCEPT, {"executor_id": worker.user_id}, State.IN_PROGRESS),
        (worker, Action.REPORT, {"comment": "Сделано, фото и акт", "files": FILES}, State.ON_REVIEW),
        (issuer, Action.RETURN, {"comment": "Не убран тротуар"}, State.IN_PROGRESS),
        (worker, Action.REPORT, {"comment": "Тротуар убран"}, State.ON_REVIEW),
        (issuer, Action.CLOSE, {}, State.DONE),
    ]
    version = card.version
    for who, action, kwargs, expected in steps:
        clock.advance(timedelta(hours=1))  # type: ignore[attr-defined]
        card = await orders.perform(ctx, uow, who, card.id, action, version=version, **kwargs)
        assert card.state == expected, action
        assert card.version == version + 1
        version = card.version
    assert card.closed_at == clock.now()
    assert card.executor_name == next(e["full_name"] for e in demo["employees"] if e["telegram_id"] == worker_tg)
    assert card.actions == () and not card.overdue
    assert card.attachments == ()  # report files belong to the report, not to the order

    number, hist = await orders.history(ctx, uow, issuer, card.id)
    assert number == card.number == "П-2026-000001"  # the first order of the year
    names = {t: next(e["full_name"] for e in demo["employees"] if e["telegram_id"] == t) for t in (issuer_tg, head_tg)}
    names[worker_tg] = card.executor_name
    assert [(h.type, h.actor_name) for h in hist] == [
        ("created", names[issuer_tg]),
        ("accept", names[head_tg]),
        ("report", names[worker_tg]),
        ("return", names[issuer_tg]),
        ("report", names[worker_tg]),
        ("close", names[issuer_tg]),
    ]
    assert [h.at for h in hist] == [f.NOW + timedelta(hours=i) for i in range(6)]
    assert hist[0].payload == {"departments": ["ROADS"]}
    assert hist[1].payload["executor"] == names[worker_tg]
    assert hist[2].payload == {"comment": "Сделано, фото и акт", "files": 2}
    assert hist[3].payload == {"comment": "Не убран тротуар"}

    events = await f.events_of(uow, card.id)
    async with uow:
        report_files = await orders.files_of(uow, card.id, events[2].id)
        assert await orders.files_of(uow, card.id, events[4].id) == []
    assert tuple(report_files) == FILES

    # Everyone concerned was told, never the actor of an event.
    assert await _recipients(uow, events[1].id) == {str(issuer_tg), str(worker_tg)}  # accept: issuer, executor
    assert await _recipients(uow, events[2].id) == {str(issuer_tg)}  # report: issuer (no controller)
    assert await _recipients(uow, events[3].id) == {str(worker_tg), str(head_tg)}  # return: executor, managers
    assert await _recipients(uow, events[5].id) == {str(worker_tg), str(head_tg)}  # close
    rows = await f.outbox_rows(uow, OutboxMessage.order_id == card.id)
    assert all(r.kind == next(e.type for e in events if e.id == r.event_id) for r in rows)
    assert all(r.status == "pending" and r.locale == "ru" and r.channel == "telegram" for r in rows)


async def test_report_without_text_or_files_is_refused(uow: UnitOfWork, ctx: AppContext, demo: dict) -> None:
    codes = await f.dept_ids(uow)
    issuer = await f.actor(uow, f.head_of(demo, "GLAVA"))
    head = await f.actor(uow, f.head_of(demo, "ROADS"))
    card = await orders.create_order(ctx, uow, issuer, f.draft([codes["ROADS"]], ctx=ctx))
    await orders.perform(ctx, uow, head, card.id, Action.ACCEPT)
    with pytest.raises(BadInput, match="comment_empty"):
        await orders.perform(ctx, uow, head, card.id, Action.REPORT, comment="  ")
    # Permission and state are checked before the text: a stale "decline" button is told it is not allowed.
    with pytest.raises(NotAllowed):
        await orders.perform(ctx, uow, head, card.id, Action.DECLINE)
    assert len(await f.events_of(uow, card.id)) == 2


async def test_created_recipients(uow: UnitOfWork, ctx: AppContext, demo: dict) -> None:
    """created → executor department head/deputy, its chat if bound, the controller; never the actor; nobody who
    never started the bot."""
    codes = await f.dept_ids(uow)
    issuer_tg, arch_head, arch_deputy = f.head_of(demo, "GLAVA"), f.head_of(demo, "ARCH"), 100000030
    arch_worker = f.first_with(demo, "ARCH", "employee")
    await f.mark_started(ctx, uow, issuer_tg, arch_head, arch_worker, f.CONTROLLER_TG)
    await users.bind_chat(uow, await f.actor(uow, arch_head), -100500, None)
    controller = await f.user_id(uow, f.CONTROLLER_TG)
    issuer = await f.actor(uow, issuer_tg)

    card = await orders.create_order(ctx, uow, issuer, f.draft([codes["ARCH"]], ctx=ctx, controller_id=controller))
    created = (await f.events_of(uow, card.id))[0]
    # The deputy never opened the bot; employees are not told about new orders; the issuer is the actor.
    assert await _recipients(uow, created.id) == {str(arch_head), str(f.CONTROLLER_TG), "-100500"}
    chat_row = next(r for r in await f.outbox_rows(uow, OutboxMessage.event_id == created.id) if r.user_id is None)
    assert chat_row.recipient == "-100500" and chat_row.kind == "created" and chat_row.order_id == card.id

    # The deputy starts the bot and issues an order to their own department: everyone but them.
    await f.mark_started(ctx, uow, arch_deputy)
    deputy = await f.actor(uow, arch_deputy)
    own = await orders.create_order(ctx, uow, deputy, f.draft([codes["ARCH"]], ctx=ctx, controller_id=controller))
    ev = (await f.events_of(uow, own.id))[0]
    assert await _recipients(uow, ev.id) == {str(arch_head), str(f.CONTROLLER_TG), "-100500"}

    # Without a controller and a chat: only the managers.
    law = await orders.create_order(ctx, uow, issuer, f.draft([codes["LAW"]], ctx=ctx))
    ev = (await f.events_of(uow, law.id))[0]
    assert await _recipients(uow, ev.id) == set()  # LAW's head and deputy never started the bot
    await f.mark_started(ctx, uow, f.head_of(demo, "LAW"), 100000063)
    law2 = await orders.create_order(ctx, uow, issuer, f.draft([codes["LAW"]], ctx=ctx))
    ev = (await f.events_of(uow, law2.id))[0]
    assert await _recipients(uow, ev.id) == {str(f.head_of(demo, "LAW")), "100000063"}


async def test_sub_orders_notify_each_executor_department(uow: UnitOfWork, ctx: AppContext, demo: dict) -> None:
    codes = await f.dept_ids(uow)
    heads = {c: f.head_of(demo, c) for c in ("EDU", "CULT")}
    await f.mark_started(ctx, uow, *heads.values())
    issuer = await f.actor(uow, f.head_of(demo, "GLAVA"))
    card = await orders.create_order(ctx, uow, issuer, f.draft([codes["EDU"], codes["CULT"]], ctx=ctx))
    # EDU, the first department, is the responsible executor of the order itself; CULT gets the one sub-order.
    assert card.executor_department is not None and card.executor_department.code == "EDU"
    assert [(c.number, c.department.code if c.department else None) for c in card.children] == [
        (f"{card.number}/1", "CULT")
    ]
    all_rows = await f.all_orders(uow)
    assert {o.number: (o.parent_id, o.executor_department_id) for o in all_rows} == {
        card.number: (None, codes["EDU"]),
        f"{card.number}/1": (card.id, codes["CULT"]),
    }
    per_order = {o.number: await _recipients(uow, (await f.events_of(uow, o.id))[0].id) for o in all_rows}
    assert per_order == {
        card.number: {str(heads["EDU"])},
        f"{card.number}/1": {str(heads["CULT"])},
    }
    # The CULT head sees the parent through its sub-order, and the parent shows its children's states.
    cult = await f.actor(uow, heads["CULT"])
    child = card.children[0]
    await orders.perform(ctx, uow, cult, child.id, Action.ACCEPT)
    parent = await orders.get_card(ctx, uow, cult, order_id=card.id)
    assert [(c.number, c.state) for c in parent.children] == [(f"{card.number}/1", State.IN_PROGRESS)]
    assert parent.state == State.NEW
    # The parent belongs to EDU: its head accepts it, the CULT head may not.
    assert Action.ACCEPT not in parent.actions
    edu = await f.actor(uow, heads["EDU"])
    assert (await orders.perform(ctx, uow, edu, card.id, Action.ACCEPT)).state == State.IN_PROGRESS


async def test_failed_action_writes_no_events_and_no_outbox(
    uow: UnitOfWork, ctx: AppContext, demo: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    codes = await f.dept_ids(uow)
    issuer_tg, head_tg = f.head_of(demo, "GLAVA"), f.head_of(demo, "ROADS")
    await f.mark_started(ctx, uow, issuer_tg, head_tg, f.CONTROLLER_TG)
    issuer, head = await f.actor(uow, issuer_tg), await f.actor(uow, head_tg)
    controller = await f.user_id(uow, f.CONTROLLER_TG)
    card = await orders.create_order(ctx, uow, issuer, f.draft([codes["ROADS"]], ctx=ctx, controller_id=controller))

    async def snapshot() -> tuple[int, int, str, int, int]:
        order = await f.order_row(uow, card.id)
        return (
            await f.count(uow, OrderEvent),
            await f.count(uow, OutboxMessage),
            order.state,
            order.version,
            await f.count(uow, Order),
        )

    before = await snapshot()
    assert before[:2] == (1, 2)

    # Refusals by the domain.
    with pytest.raises(NotAllowed):
        await orders.perform(ctx, uow, issuer, card.id, Action.ACCEPT)
    with pytest.raises(BadInput):
        outsider = await f.user_id(uow, f.first_with(demo, "LAW", "employee"))
        await orders.perform(ctx, uow, head, card.id, Action.ACCEPT, executor_id=outsider)
    assert await snapshot() == before

    # A failure after the state change and the event were written (while writing the notifications):
    # everything is rolled back together.
    real_write = orders.notify.write
    calls = []

    def exploding_write(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        raise RuntimeError("outbox crashed")

    monkeypatch.setattr(orders.notify, "write", exploding_write)
    with pytest.raises(RuntimeError):
        await orders.perform(ctx, uow, head, card.id, Action.ACCEPT)
    with pytest.raises(RuntimeError):
        await orders.create_order(ctx, uow, issuer, f.draft([codes["LAW"], codes["FIN"]], ctx=ctx))
    assert len(calls) == 2
    assert await snapshot() == before
    async with uow:
        counter = await uow.session.get(Counter, "П-2026")
        assert counter is not None and counter.value == 1  # the number of the failed order was not used up

    monkeypatch.setattr(orders.notify, "write", real_write)
    done = await orders.perform(ctx, uow, head, card.id, Action.ACCEPT)
    assert done.state == State.IN_PROGRESS
    after = await snapshot()
    assert after[0] == 2 and after[1] == before[1] + 2  # accept → issuer and controller


async def test_stale_version_is_refused(uow: UnitOfWork, ctx: AppContext, demo: dict) -> None:
    codes = await f.dept_ids(uow)
    issuer = await f.actor(uow, f.head_of(demo, "GLAVA"))
    head, deputy = await f.actor(uow, f.head_of(demo, "ARCH")), await f.actor(uow, 100000030)
    card = await orders.create_order(ctx, uow, issuer, f.draft([codes["ARCH"]], ctx=ctx))
    accepted = await orders.perform(ctx, uow, head, card.id, Action.ACCEPT, version=card.version)
    for action, kwargs in [
        (Action.ASSIGN, {"executor_id": deputy.user_id}),
        (Action.COMMENT, {"comment": "устаревшая кнопка"}),
        (Action.FORWARD, {"department_id": codes["LAW"], "comment": "не нам"}),
    ]:
        with pytest.raises(OrderChanged):
            await orders.perform(ctx, uow, deputy, card.id, action, version=card.version, **kwargs)
    now = await orders.get_card(ctx, uow, deputy, order_id=card.id)
    assert (now.state, now.version) == (State.IN_PROGRESS, accepted.version)
    assert len(await f.events_of(uow, card.id)) == 2


@pytest.mark.parametrize("repeat", range(3))
async def test_concurrent_actions_one_wins(
    uow: UnitOfWork, new_uow: Callable[[], UnitOfWork], ctx: AppContext, demo: dict, repeat: int
) -> None:
    """The head accepts and the deputy declines the same order at the same moment: one wins, the other is told."""
    codes = await f.dept_ids(uow)
    issuer = await f.actor(uow, f.head_of(demo, "GLAVA"))
    head, deputy = await f.actor(uow, f.head_of(demo, "ARCH")), await f.actor(uow, 100000030)
    card = await orders.create_order(ctx, uow, issuer, f.draft([codes["ARCH"]], ctx=ctx))
    contenders = [
        orders.perform(ctx, new_uow(), head, card.id, Action.ACCEPT, version=card.version),
        orders.perform(ctx, new_uow(), deputy, card.id, Action.DECLINE, version=card.version, comment="не наше"),
    ]
    if repeat % 2:
        contenders.reverse()
    results = await asyncio.gather(*contenders, return_exceptions=True)
    wins = [r for r in results if not isinstance(r, BaseException)]
    losses = [r for r in results if isinstance(r, BaseException)]
    assert len(wins) == 1 and len(losses) == 1, results
    assert isinstance(losses[0], OrderChanged), repr(losses[0])
    final = await f.order_row(uow, card.id)
    assert final.state == wins[0].state and final.version == card.version + 1
    events = await f.events_of(uow, card.id)
    assert [e.type for e in events] == ["created", "accept" if wins[0].state == State.IN_PROGRESS else "decline"]


async def test_version_check_at_the_storage_level(db_url: str, uow: UnitOfWork, ctx: AppContext, demo: dict) -> None:
    """Two sessions load the same order; the second UPDATE finds the version moved and fails."""
    codes = await f.dept_ids(uow)
    issuer = await f.actor(uow, f.head_of(demo, "GLAVA"))
    card = await orders.create_order(ctx, uow, issuer, f.draft([codes["ARCH"]], ctx=ctx))
    engines = [make_engine(db_url), make_engine(db_url)]
    try:
        s1, s2 = (make_session_factory(e)() for e in engines)
        o1, o2 = await s1.get(Order, card.id), await s2.get(Order, card.id)
        assert o1 is not None and o2 is not None and o1.version == o2.version == 1
        o1.state = State.IN_PROGRESS.value
        await s1.commit()
        o2.state = State.DECLINED.value
        with pytest.raises(StaleDataError):
            await s2.commit()
        await s2.rollback()
        await s1.close()
        await s2.close()
    finally:
        for e in engines:
            await e.dispose()
    final = await f.order_row(uow, card.id)
    assert (final.state, final.version) == ("in_progress", 2)
