"""Who is told about what: the single place for notification recipients.

Every event writes outbox rows in the same transaction as the event itself; a sender task delivers them.
Rows carry a channel and a recipient, not Telegram calls, so other channels plug in without touching services.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.policy import Actor, OrderFacts, is_controller, is_issuer_side
from bot.services.context import AppContext
from bot.services.users import locale_for
from storage.models import Department, Order, OrderEvent, OutboxMessage, User
from storage.uow import UnitOfWork

ISSUER, EXECUTOR, MANAGERS, CHAT, CONTROLLER, APPROVER = (
    "issuer",
    "executor",
    "managers",
    "chat",
    "controller",
    "approver",
)

# Event type -> the audiences it concerns. The actor is never notified of their own action.
AUDIENCES: dict[str, frozenset[str]] = {
    "created": frozenset({MANAGERS, CHAT, CONTROLLER}),
    "accept": frozenset({ISSUER, EXECUTOR, CONTROLLER}),
    "assign": frozenset({EXECUTOR}),
    "forward": frozenset({ISSUER, MANAGERS, CHAT, CONTROLLER}),
    "decline": frozenset({ISSUER, CONTROLLER}),
    "report": frozenset({ISSUER, CONTROLLER}),
    "return": frozenset({EXECUTOR, MANAGERS}),
    "close": frozenset({ISSUER, EXECUTOR, MANAGERS, CHAT, CONTROLLER}),
    "cancel": frozenset({EXECUTOR, MANAGERS, CHAT, CONTROLLER}),
    "request_extension": frozenset({APPROVER}),
    "grant_extension": frozenset({EXECUTOR, MANAGERS}),
    "deny_extension": frozenset({EXECUTOR, MANAGERS}),
}


def comment_audience(actor: Actor, facts: OrderFacts) -> frozenset[str]:
    """A comment goes to the other side of the order."""
    if is_issuer_side(actor, facts) or is_controller(actor, facts):
        return frozenset({EXECUTOR, MANAGERS, CONTROLLER, ISSUER})
    return frozenset({ISSUER, CONTROLLER})


@dataclass(frozen=True)
class Recipient:
    chat_id: int
    user_id: int | None  # None for a department chat
    locale: str


async def recipients(
    ctx: AppContext, uow: UnitOfWork, order: Order, audiences: frozenset[str], actor_user_id: int | None
) -> list[Recipient]:
    users: list[User] = []
    chats: list[int] = []
    ids: list[int | None] = []
    if ISSUER in audiences:
        ids.append(order.issuer_id)
    if EXECUTOR in audiences:
        ids.append(order.executor_id)
    if CONTROLLER in audiences or (APPROVER in audiences and order.controller_id is not None):
        ids.append(order.controller_id)
    if APPROVER in audiences and order.controller_id is None:
        ids.append(order.issuer_id)
    users.extend((await uow.users.many(ids)).values())
    if order.executor_department_id is not None and (MANAGERS in audiences or CHAT in audiences):
        if MANAGERS in audiences:
            users.extend(await uow.users.in_department(order.executor_department_id, ("head", "deputy")))
        if CHAT in audiences:
            dept: Department | None = await uow.departments.cached(order.executor_department_id)
            if dept is not None and dept.chat_id is not None:
                chats.append(dept.chat_id)
    out: list[Recipient] = []
    seen: set[int] = set()
    for u in users:
        # Telegram refuses to write first to someone who never opened the bot; they see it in /inbox.
        if u.id == actor_user_id or u.telegram_id is None or not u.started or u.status != "active":
            continue
        if u.telegram_id not in seen:
            seen.add(u.telegram_id)
            out.append(Recipient(u.telegram_id, u.id, locale_for(u, ctx)))
    out.extend(Recipient(c, None, ctx.default_locale) for c in chats if c not in seen)
    return out


def write(ctx: AppContext, uow: UnitOfWork, to: list[Recipient], order_id: int, event: OrderEvent) -> int:
    """One outbox row per recipient of `event`, in the same transaction as the event. Returns how many."""
    now = ctx.clock.now()
    for r in to:
        uow.outbox.add(
            OutboxMessage(
                channel="telegram",
                recipient=str(r.chat_id),
                user_id=r.user_id,
                locale=r.locale,
                kind=event.type,
                order_id=order_id,
                event_id=event.id,
                payload={},
                next_attempt_at=now,
                created_at=now,
            )
        )
    return len(to)


async def notify(
    ctx: AppContext,
    uow: UnitOfWork,
    order: Order,
    event: OrderEvent,
    audiences: frozenset[str],
    actor_user_id: int | None,
) -> int:
    """Write the outbox rows of `event` for its audiences."""
    return write(ctx, uow, await recipients(ctx, uow, order, audiences, actor_user_id), order.id, event)
