"""Shared test helpers: the demo organisation, a frozen application context, actors and orders made through the
real services (never by writing rows directly, so tests exercise the same path as the bot)."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.clock import FrozenClock
from bot.domain.policy import Actor
from bot.domain.states import Priority
from bot.services import orders, users
from bot.services.context import AppContext
from bot.services.dto import Draft, OrderCard
from bot.services.orgimport import import_org
from storage.models import Base, Department, Order, OrderEvent, OutboxMessage, User
from storage.uow import UnitOfWork

# The project's shared data beside the checkout (as in CI), else the copy kept with the tests.
DEMO_PATH = Path(__file__).resolve().parents[2] / "shared" / "data" / "municipality_demo.json"
if not DEMO_PATH.exists():
    DEMO_PATH = Path(__file__).resolve().parent / "data" / "municipality_demo.json"

MSK = ZoneInfo("Europe/Moscow")
# Saturday 28 November 2026, 12:00 in Moscow.
NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)

CONTROLLER_TG = 100000009
ADMIN_TG = 100000077


def load_demo() -> dict[str, Any]:
    """A fresh deep copy of the demo organisation (tests may mutate it)."""
    return copy.deepcopy(_demo())


_cache: dict[str, Any] = {}


def _demo() -> dict[str, Any]:
    if "demo" not in _cache:
        _cache["demo"] = json.loads(DEMO_PATH.read_text(encoding="utf-8"))
    return _cache["demo"]


def make_ctx(at: datetime = NOW) -> AppContext:
    return AppContext(clock=FrozenClock(at), tz=MSK, number_prefix="П")


async def create_schema(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)


def head_of(data: dict[str, Any], code: str) -> int:
    """Telegram id of the (first) head of a department in the demo data."""
    for e in data["employees"]:
        if e["department"] == code and e["role"] == "head":
            return e["telegram_id"]
    raise LookupError(code)


def first_with(data: dict[str, Any], code: str, role: str) -> int:
    for e in data["employees"]:
        if e["department"] == code and e["role"] == role:
            return e["telegram_id"]
    raise LookupError((code, role))


async def actor(uow: UnitOfWork, telegram_id: int) -> Actor:
    info = await users.get_user(uow, telegram_id)
    assert info is not None and info.actor is not None, telegram_id
    return info.actor


async def user_id(uow: UnitOfWork, telegram_id: int) -> int:
    info = await users.get_user(uow, telegram_id)
    assert info is not None, telegram_id
    return info.id


async def dept_ids(uow: UnitOfWork) -> dict[str, int]:
    return {d.code: d.id for d in await users.departments(uow)}


async def mark_started(ctx: AppContext, uow: UnitOfWork, *telegram_ids: int) -> None:
    """As if each of them had opened a private chat with the bot."""
    for tg in telegram_ids:
        await users.identify(ctx, uow, users.TelegramProfile(tg, f"user {tg}"))


async def import_demo(uow: UnitOfWork, data: dict[str, Any] | None = None) -> None:
    await import_org(uow, data if data is not None else load_demo())


def draft(
    departments: list[int] | tuple[int, ...],
    *,
    ctx: AppContext,
    title: str = "Поручение",
    text: str = "Текст поручения",
    days: float = 5,
    priority: Priority = Priority.NORMAL,
    controller_id: int | None = None,
) -> Draft:
    return Draft(
        title=title,
        text=text,
        executor_department_ids=tuple(departments),
        due_at=ctx.clock.now() + timedelta(days=days),
        priority=priority,
        controller_id=controller_id,
    )


@dataclass(frozen=True)
class DemoOrder:
    card: OrderCard
    spec: dict[str, Any]


async def create_demo_orders(ctx: AppContext, uow: UnitOfWork, data: dict[str, Any] | None = None) -> list[DemoOrder]:
    """The demo orders, each issued by the head of its `from` department; several `to` departments give one
    parent order for the first (responsible) department and a sub-order for each other (co-executor) one."""
    data = data if data is not None else load_demo()
    codes = await dept_ids(uow)
    out = []
    for spec in data["orders"]:
        issuer = await actor(uow, head_of(data, spec["from"]))
        card = await orders.create_order(
            ctx,
            uow,
            issuer,
            Draft(
                title=spec["title"],
                text=spec["text"],
                executor_department_ids=tuple(codes[c] for c in spec["to"]),
                due_at=ctx.clock.now() + timedelta(days=spec["due_in_days"]),
                priority=Priority(spec["priority"]),
            ),
        )
        out.append(DemoOrder(card, spec))
    return out


def _detach(uow: UnitOfWork, rows: list[Any]) -> list[Any]:
    """Keep loaded rows readable after the unit of work rolls back (which would expire them)."""
    uow.session.expunge_all()
    return rows


async def count(uow: UnitOfWork, model: type[Base], *where: Any) -> int:
    async with uow:
        q = select(func.count()).select_from(model)
        if where:
            q = q.where(*where)
        return (await uow.session.execute(q)).scalar_one()


async def events_of(uow: UnitOfWork, order_id: int) -> list[OrderEvent]:
    async with uow:
        return _detach(uow, list(await uow.events.history(order_id)))


async def outbox_rows(uow: UnitOfWork, *where: Any) -> list[OutboxMessage]:
    async with uow:
        q = select(OutboxMessage).order_by(OutboxMessage.id)
        if where:
            q = q.where(*where)
        return _detach(uow, list((await uow.session.execute(q)).scalars()))


async def order_row(uow: UnitOfWork, order_id: int) -> Order:
    async with uow:
        order = await uow.orders.get(order_id)
        assert order is not None
        return _detach(uow, [order])[0]


async def all_orders(uow: UnitOfWork) -> list[Order]:
    async with uow:
        return _detach(uow, list((await uow.session.execute(select(Order).order_by(Order.id))).scalars()))


async def all_users(uow: UnitOfWork) -> list[User]:
    async with uow:
        return _detach(uow, list((await uow.session.execute(select(User).order_by(User.id))).scalars()))


async def all_departments(uow: UnitOfWork) -> list[Department]:
    async with uow:
        return _detach(uow, list((await uow.session.execute(select(Department).order_by(Department.id))).scalars()))
