"""list_orders over the demo orders: paging, filters (state, overdue, priority, text, box) and the ordering."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.domain.policy import Actor
from bot.domain.states import Action, Priority, State
from bot.services import orders
from bot.services.context import AppContext
from bot.services.orders import list_orders
from storage.repositories import OrderFilter
from storage.uow import UnitOfWork
from tests import factories as f


def _size(spec: dict) -> int:
    """A demo order is one order for its first department plus one sub-order per other (co-executor) department."""
    return len(spec["to"])


async def _ids(ctx: AppContext, uow: UnitOfWork, who: Actor, flt: OrderFilter) -> list[int]:
    page = await list_orders(ctx, uow, who, flt, 0, 100)
    assert page.total == len(page.items)
    return [r.id for r in page.items]


@pytest.fixture
async def made(uow: UnitOfWork, ctx: AppContext, demo: dict) -> list[f.DemoOrder]:
    return await f.create_demo_orders(ctx, uow, demo)


@pytest.fixture
async def controller(uow: UnitOfWork, demo: dict) -> Actor:
    return await f.actor(uow, f.CONTROLLER_TG)


async def test_paging(uow: UnitOfWork, ctx: AppContext, demo: dict, made: list, controller: Actor) -> None:
    total = sum(_size(s) for s in demo["orders"])
    assert total == 25  # 20 demo orders, four of them with co-executors: +1, +1, +2, +1 sub-orders
    pages = [await list_orders(ctx, uow, controller, OrderFilter(), p, 10) for p in range(4)]
    assert [(len(p.items), p.total, p.page, p.pages) for p in pages] == [
        (10, 25, 0, 3),
        (10, 25, 1, 3),
        (5, 25, 2, 3),
        (0, 25, 3, 3),
    ]
    ids = [r.id for p in pages for r in p.items]
    assert len(ids) == len(set(ids)) == 25
    assert ids == await _ids(ctx, uow, controller, OrderFilter())  # paging keeps the order
    assert (await list_orders(ctx, uow, controller, OrderFilter(), -5, 10)).page == 0
    empty = await list_orders(ctx, uow, controller, OrderFilter(state="done"), 0, 10)
    assert (empty.items, empty.total, empty.pages) == ((), 0, 1)


async def test_state_filter(uow: UnitOfWork, ctx: AppContext, demo: dict, made: list, controller: Actor) -> None:
    by_title = {m.card.title: m.card for m in made}
    law = by_title["Провести правовую экспертизу проекта решения Думы о внесении изменений в бюджет"]
    kumi = by_title["Актуализировать сведения реестра муниципального имущества"]
    await orders.perform(ctx, uow, await f.actor(uow, f.head_of(demo, "LAW")), law.id, Action.ACCEPT)
    await orders.perform(ctx, uow, await f.actor(uow, f.head_of(demo, "KUMI")), kumi.id, Action.ACCEPT)
    await orders.perform(ctx, uow, await f.actor(uow, f.head_of(demo, "FIN")), kumi.id, Action.CANCEL)

    assert set(await _ids(ctx, uow, controller, OrderFilter(state="in_progress"))) == {law.id}
    assert set(await _ids(ctx, uow, controller, OrderFilter(state="cancelled"))) == {kumi.id}
    assert len(await _ids(ctx, uow, controller, OrderFilter(state="new"))) == 23
    open_ids = await _ids(ctx, uow, controller, OrderFilter(state="open"))
    assert len(open_ids) == 24 and kumi.id not in open_ids
    # Finished orders go last in an unfiltered list.
    assert (await _ids(ctx, uow, controller, OrderFilter()))[-1] == kumi.id


async def test_overdue_filter_and_overdue_first(
    uow: UnitOfWork, ctx: AppContext, demo: dict, made: list[f.DemoOrder], controller: Actor
) -> None:
    assert await _ids(ctx, uow, controller, OrderFilter(overdue=True)) == []
    ctx.clock.advance(timedelta(days=1, minutes=1))  # type: ignore[attr-defined]
    late_specs = [m for m in made if m.spec["due_in_days"] <= 1]
    late_ids = {m.card.id for m in late_specs} | {c.id for m in late_specs for c in m.card.children}
    # Snow clearing, and the water main (parent for ZHKH and one sub-order for ROADS).
    assert len(late_ids) == 3

    assert set(await _ids(ctx, uow, controller, OrderFilter(overdue=True))) == late_ids
    page = await list_orders(ctx, uow, controller, OrderFilter(), 0, 100)
    assert {r.id for r in page.items[:3]} == late_ids
    assert [r.overdue for r in page.items] == [True] * 3 + [False] * 22
    due = [r.due_at for r in page.items[3:]]
    assert due == sorted(due)  # then by deadline
    card = await orders.get_card(ctx, uow, controller, order_id=late_specs[0].card.id)
    assert card.overdue

    # A finished order is no longer overdue.
    snow = next(m.card for m in made if "снега" in m.card.title)
    await orders.perform(ctx, uow, await f.actor(uow, f.head_of(demo, "GLAVA")), snow.id, Action.CANCEL)
    assert set(await _ids(ctx, uow, controller, OrderFilter(overdue=True))) == late_ids - {snow.id}
    # Time passes further: everything due within three days is late.
    ctx.clock.advance(timedelta(days=2))  # type: ignore[attr-defined]
    expected = sum(_size(m.spec) for m in made if m.spec["due_in_days"] <= 3) - 1
    # Snow (cancelled), the press release, the Duma expertise, the new employee, the water main and its sub-order.
    assert expected == 5
    assert len(await _ids(ctx, uow, controller, OrderFilter(overdue=True, state="open"))) == expected


async def test_priority_filter(uow: UnitOfWork, ctx: AppContext, demo: dict, made: list, controller: Actor) -> None:
    for priority in Priority:
        expected = sum(_size(s) for s in demo["orders"] if s["priority"] == priority)
        page = await list_orders(ctx, uow, controller, OrderFilter(priority=priority.value), 0, 100)
        assert page.total == expected, priority
        assert all(r.priority == priority for r in page.items)
    assert (await list_orders(ctx, uow, controller, OrderFilter(priority="urgent"), 0, 100)).total == 3


SEARCHES = ["СНЕГ", "снег", "Снегопада", "ЁЛК", "ленина", "ЛЕНИНА", "НмЦк", "0503127"]
SEARCHES += ["п-2026-000002", "П-2026-000003/1", "П-2026-000003/2", "п-2026-000016/2", "П-2026-000016"]


async def test_text_search_is_case_insensitive_for_cyrillic(
    uow: UnitOfWork, ctx: AppContext, demo: dict, made: list[f.DemoOrder], controller: Actor
) -> None:
    snow = next(m.card for m in made if "снега" in m.card.title)
    for query in SEARCHES:
        expected = set()
        for m in made:
            for number, order_id in [(m.card.number, m.card.id), *((c.number, c.id) for c in m.card.children)]:
                if query.lower() in f"{number} {m.spec['title']} {m.spec['text']}".lower():
                    expected.add(order_id)
        found = set(await _ids(ctx, uow, controller, OrderFilter(text=query)))
        assert found == expected, query
        if query.lower().startswith("снег"):
            assert found == {snow.id}
        if query.lower() in ("ленина", "нмцк", "п-2026-000002", "п-2026-000003/1", "п-2026-000016/2"):
            assert len(found) == 1, query
        if query == "П-2026-000003/2":  # two departments: the parent and a single sub-order /1
            assert found == set()
        if query == "П-2026-000016":  # three departments: the parent, /1 and /2
            assert len(found) == 3


async def test_search_escapes_like_wildcards(uow: UnitOfWork, ctx: AppContext, made: list, controller: Actor) -> None:
    assert await _ids(ctx, uow, controller, OrderFilter(text="%")) == []
    assert await _ids(ctx, uow, controller, OrderFilter(text="_")) == []


async def test_inbox_and_outbox(uow: UnitOfWork, ctx: AppContext, demo: dict, made: list[f.DemoOrder]) -> None:
    codes = await f.dept_ids(uow)
    roads = await f.actor(uow, f.head_of(demo, "ROADS"))
    inbox = set(await _ids(ctx, uow, roads, OrderFilter(box="inbox")))
    expected = set()
    for m in made:
        for o in [m.card, *m.card.children]:
            dept = o.executor_department if hasattr(o, "executor_department") else o.department
            if dept is not None and dept.id == codes["ROADS"]:
                expected.add(o.id)
    assert inbox == expected and len(inbox) == 2
    glava = await f.actor(uow, f.head_of(demo, "GLAVA"))
    outbox = set(await _ids(ctx, uow, glava, OrderFilter(box="outbox")))
    assert outbox == {o.id for o in await f.all_orders(uow) if o.issuer_department_id == codes["GLAVA"]}
    assert len(outbox) == sum(_size(s) for s in demo["orders"] if s["from"] == "GLAVA")
    # Nobody put anything on control.
    assert await _ids(ctx, uow, await f.actor(uow, f.CONTROLLER_TG), OrderFilter(box="control")) == []


async def test_lists_respect_visibility(uow: UnitOfWork, ctx: AppContext, demo: dict, made: list) -> None:
    worker = await f.actor(uow, f.first_with(demo, "PRESS", "employee"))
    ids = await _ids(ctx, uow, worker, OrderFilter())
    press = [m.card.id for m in made if m.spec["to"] == ["PRESS"]]
    assert ids == press
    assert await _ids(ctx, uow, worker, OrderFilter(text="снег")) == []
    assert State(next(iter((await list_orders(ctx, uow, worker, OrderFilter(), 0, 5)).items)).state) == State.NEW
