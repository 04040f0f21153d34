"""Order numbers: unique, sequential per year in the municipality's time zone, `П-2026-000001`, safe under
concurrent creation."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bot.services import orders
from bot.services.context import AppContext
from storage.models import Order
from storage.uow import UnitOfWork
from tests import factories as f


async def test_numbers_are_sequential_and_formatted(uow: UnitOfWork, ctx: AppContext, demo: dict) -> None:
    codes = await f.dept_ids(uow)
    head = await f.actor(uow, f.head_of(demo, "GLAVA"))
    one = await orders.create_order(ctx, uow, head, f.draft([codes["ROADS"]], ctx=ctx))
    two = await orders.create_order(ctx, uow, head, f.draft([codes["EDU"], codes["CULT"], codes["LAW"]], ctx=ctx))
    three = await orders.create_order(ctx, uow, head, f.draft([codes["FIN"]], ctx=ctx))
    assert (one.number, two.number, three.number) == ("П-2026-000001", "П-2026-000002", "П-2026-000003")
    # The first department is the responsible executor of the order itself; each co-executor department gets a
    # sub-order with the parent's number and its position. Sub-orders do not consume numbers.
    assert two.executor_department is not None and two.executor_department.code == "EDU"
    assert [(c.number, c.department.code if c.department else None) for c in two.children] == [
        ("П-2026-000002/1", "CULT"),
        ("П-2026-000002/2", "LAW"),
    ]
    assert one.children == () and three.children == ()
    rows = await f.all_orders(uow)
    numbers = [o.number for o in rows]
    assert len(numbers) == len(set(numbers)) == 5  # three orders and two sub-orders
    by_number = {o.number: o for o in rows}
    assert {n: (by_number[n].parent_id, by_number[n].executor_department_id) for n in numbers if "000002" in n} == {
        "П-2026-000002": (None, codes["EDU"]),
        "П-2026-000002/1": (two.id, codes["CULT"]),
        "П-2026-000002/2": (two.id, codes["LAW"]),
    }
    assert all(re.fullmatch(r"П-2026-\d{6}(/\d+)?", n) for n in numbers)


async def test_the_sequence_restarts_each_local_year(uow: UnitOfWork, demo: dict) -> None:
    codes = await f.dept_ids(uow)
    head = await f.actor(uow, f.head_of(demo, "GLAVA"))
    late_2026 = f.make_ctx(datetime(2026, 12, 31, 20, 0, tzinfo=UTC))  # 23:00 in Moscow: still 2026
    new_year = f.make_ctx(datetime(2026, 12, 31, 21, 30, tzinfo=UTC))  # 00:30 on 1 January 2027 in Moscow
    a = await orders.create_order(late_2026, uow, head, f.draft([codes["ROADS"]], ctx=late_2026))
    b = await orders.create_order(new_year, uow, head, f.draft([codes["ROADS"]], ctx=new_year))
    c = await orders.create_order(new_year, uow, head, f.draft([codes["ROADS"]], ctx=new_year))
    later = f.make_ctx(datetime(2027, 3, 1, 9, 0, tzinfo=UTC))
    d = await orders.create_order(later, uow, head, f.draft([codes["ROADS"]], ctx=later))
    assert [x.number for x in (a, b, c, d)] == ["П-2026-000001", "П-2027-000001", "П-2027-000002", "П-2027-000003"]


async def test_prefix_is_configurable(uow: UnitOfWork, demo: dict) -> None:
    codes = await f.dept_ids(uow)
    ctx = AppContext(clock=f.make_ctx().clock, tz=f.MSK, number_prefix="ORD")
    head = await f.actor(uow, f.head_of(demo, "GLAVA"))
    card = await orders.create_order(ctx, uow, head, f.draft([codes["ROADS"]], ctx=ctx))
    assert card.number == "ORD-2026-000001"


async def test_concurrent_creation_gives_distinct_numbers(
    uow: UnitOfWork, new_uow: Callable[[], UnitOfWork], ctx: AppContext, demo: dict
) -> None:
    codes = await f.dept_ids(uow)
    heads = [await f.actor(uow, f.head_of(demo, c)) for c in ("GLAVA", "FIN", "ECON", "ORG", "ZHKH")]
    cards = await asyncio.gather(
        *(
            orders.create_order(
                ctx, new_uow(), heads[i % 5], f.draft([codes["LAW"]], ctx=ctx, title=f"Параллельно {i}", days=1 + i)
            )
            for i in range(10)
        )
    )
    assert sorted(c.number for c in cards) == [f"П-2026-{i:06d}" for i in range(1, 11)]
    assert await f.count(uow, Order) == 10
    assert len({c.id for c in cards}) == 10


async def test_failed_creation_does_not_consume_a_number(uow: UnitOfWork, ctx: AppContext, demo: dict) -> None:
    import pytest

    from bot.domain.errors import NotFound

    codes = await f.dept_ids(uow)
    head = await f.actor(uow, f.head_of(demo, "GLAVA"))
    with pytest.raises(NotFound):
        await orders.create_order(ctx, uow, head, f.draft([codes["LAW"]], ctx=ctx, controller_id=987654))
    card = await orders.create_order(ctx, uow, head, f.draft([codes["LAW"]], ctx=ctx))
    assert card.number == "П-2026-000001"
    assert card.due_at is not None and card.due_at - ctx.clock.now() == timedelta(days=5)
