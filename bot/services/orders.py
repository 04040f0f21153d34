"""Orders: create, act on, look up, list and read history. Every call re-checks permissions and state."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from bot.domain import policy
from bot.domain.deadlines import extend, is_overdue
from bot.domain.errors import BadDeadline, BadInput, NotAllowed, NotFound, OrderChanged
from bot.domain.policy import Actor, OrderFacts, Role
from bot.domain.states import Action, Priority, State, next_state
from bot.services import notify
from bot.services.context import AppContext
from bot.services.dto import (
    AttachmentInfo,
    ChildInfo,
    DepartmentInfo,
    Draft,
    HistoryItem,
    OrderCard,
    OrderPage,
    OrderRow,
)
from bot.services.users import dept_info
from storage.models import Attachment, Order, OrderEvent
from storage.repositories import OrderFilter
from storage.uow import UnitOfWork

TITLE_MAX = 200
TEXT_MAX = 3000
COMMENT_MAX = 2000
# Actions that need a reason or a comment from the actor.
NEEDS_TEXT = frozenset({Action.DECLINE, Action.RETURN, Action.FORWARD, Action.COMMENT, Action.REQUEST_EXTENSION})


def title_from_text(text: str) -> str:
    """The first line of the text, cut at a word boundary, as the order's title."""
    first = text.strip().splitlines()[0].strip() if text.strip() else ""
    if len(first) <= TITLE_MAX:
        return first
    cut = first[: TITLE_MAX - 1].rsplit(" ", 1)[0]
    return cut + "…"


def _fold(*parts: str) -> str:
    return " ".join(p for p in parts if p).casefold()


async def _facts(uow: UnitOfWork, order: Order, children: Sequence[Order] | None = None) -> OrderFacts:
    dept = await uow.departments.cached(order.executor_department_id)
    if children is None:
        child_departments = await uow.orders.child_department_ids(order.id)
    else:
        child_departments = frozenset(c.executor_department_id for c in children if c.executor_department_id)
    return OrderFacts(
        state=State(order.state),
        issuer_id=order.issuer_id,
        issuer_department_id=order.issuer_department_id,
        executor_department_id=order.executor_department_id,
        executor_id=order.executor_id,
        controller_id=order.controller_id,
        employees_can_accept=bool(dept and dept.employees_can_accept),
        extension_pending=order.extension_due_at is not None,
        child_department_ids=child_departments,
    )


async def _card(ctx: AppContext, uow: UnitOfWork, actor: Actor | None, order: Order) -> OrderCard:
    now = ctx.clock.now()
    users = await uow.users.many([order.issuer_id, order.executor_id, order.controller_id])
    children = await uow.orders.children(order.id)
    depts = await uow.departments.tree()
    parent = await uow.orders.get(order.parent_id) if order.parent_id else None
    facts = await _facts(uow, order, children)

    def name(uid: int | None) -> str | None:
        return users[uid].full_name if uid is not None and uid in users else None

    def dinfo(did: int | None) -> DepartmentInfo | None:
        return dept_info(depts[did]) if did is not None and did in depts else None

    return OrderCard(
        id=order.id,
        number=order.number,
        title=order.title,
        text=order.text,
        priority=Priority(order.priority),
        state=State(order.state),
        due_at=order.due_at,
        created_at=order.created_at,
        closed_at=order.closed_at,
        overdue=is_overdue(order.due_at, State(order.state), now),
        version=order.version,
        issuer_name=name(order.issuer_id),
        issuer_department=dinfo(order.issuer_department_id),
        executor_department=dinfo(order.executor_department_id),
        executor_name=name(order.executor_id),
        controller_name=name(order.controller_id),
        parent_number=parent.number if parent else None,
        parent_id=order.parent_id,
        children=tuple(
            ChildInfo(
                c.id,
                c.number,
                dinfo(c.executor_department_id),
                State(c.state),
                is_overdue(c.due_at, State(c.state), now),
            )
            for c in children
        ),
        attachments=tuple(await files_of(uow, order.id, None)),
        extension_due_at=order.extension_due_at,
        actions=tuple(policy.allowed_actions(actor, facts)) if actor else (),
        chat_actions=tuple(policy.allowed_actions(_department_head(order), facts)),
    )


def _department_head(order: Order) -> Actor:
    """A stand-in for 'some head of the executor department' (cards in department chats)."""
    return Actor(user_id=-1, role=Role.HEAD, department_id=order.executor_department_id)


async def files_of(uow: UnitOfWork, order_id: int, event_id: int | None) -> list[AttachmentInfo]:
    """The order's own files (event_id None) or the files of one event (a report, a comment)."""
    q = select(Attachment).where(Attachment.order_id == order_id)
    q = q.where(Attachment.event_id.is_(None) if event_id is None else Attachment.event_id == event_id)
    rows = (await uow.session.execute(q.order_by(Attachment.id))).scalars()
    return [AttachmentInfo(a.kind, a.file_id, a.file_name, a.mime_type, a.size, a.file_unique_id) for a in rows]


def _attach(uow: UnitOfWork, order: Order, event: OrderEvent | None, files: Sequence[AttachmentInfo]) -> None:
    for f in files:
        uow.session.add(
            Attachment(
                order_id=order.id,
                event_id=event.id if event else None,
                kind=f.kind,
                file_id=f.file_id,
                file_unique_id=f.file_unique_id,
                file_name=f.file_name,
                mime_type=f.mime_type,
                size=f.size,
                created_at=order.updated_at,
            )
        )


async def _event(
    uow: UnitOfWork, order: Order, actor_id: int | None, type_: str, at: datetime, payload: dict[str, Any]
) -> OrderEvent:
    ev = OrderEvent(order_id=order.id, actor_id=actor_id, type=type_, payload=payload, created_at=at)
    uow.events.add(ev)
    await uow.flush()
    return ev


def _clean_text(value: str | None, limit: int, code: str) -> str:
    text = (value or "").strip()
    if not text:
        raise BadInput(f"{code}_empty")
    if len(text) > limit:
        raise BadInput(f"{code}_too_long", length=len(text), limit=limit)
    return text


async def create_order(ctx: AppContext, uow: UnitOfWork, actor: Actor, draft: Draft) -> OrderCard:
    """Issue an order. With several executor departments the first is the responsible executor and gets the
    order itself; every other (co-executor) department gets a sub-order of it. Every order notifies its
    executors."""
    if not policy.can_issue(actor):
        raise NotAllowed("issue")
    text = (draft.text or "").strip()
    if not text and not draft.attachments:
        raise BadInput("text_empty")
    if len(text) > TEXT_MAX:
        raise BadInput("text_too_long", length=len(text), limit=TEXT_MAX)
    title = (draft.title or title_from_text(text)).strip() or "—"
    if len(title) > TITLE_MAX:
        raise BadInput("title_too_long", length=len(title), limit=TITLE_MAX)
    depts = list(dict.fromkeys(draft.executor_department_ids))
    if not depts:
        raise BadInput("no_departments")
    now = ctx.clock.now()
    if draft.due_at <= now:
        raise BadDeadline("past")
    async with uow:
        found = await uow.departments.many(depts)
        if len(found) != len(depts):
            raise NotFound("department")
        if draft.controller_id is not None:
            ctrl = await uow.users.get(draft.controller_id)
            if ctrl is None or ctrl.status != "active":
                raise NotFound("controller")
        number = await uow.orders.next_number(ctx.number_prefix, now.astimezone(ctx.tz).year)

        async def make(num: str, dept_id: int, parent: Order | None) -> Order:
            order = Order(
                number=num,
                parent_id=parent.id if parent else None,
                title=title,
                text=text,
                search_text=_fold(num, title, text),
                priority=draft.priority.value,
                state=State.NEW.value,
                issuer_id=actor.user_id,
                issuer_department_id=actor.department_id,
                executor_department_id=dept_id,
                controller_id=draft.controller_id,
                due_at=draft.due_at,
                created_at=now,
                updated_at=now,
                source=draft.source,
            )
            uow.orders.add(order)
            await uow.flush()
            _attach(uow, order, None, draft.attachments)
            ev = await _event(
                uow,
                order,
                actor.user_id,
                "created",
                now,
                {"departments": [found[d].code for d in depts] if parent is None else [found[dept_id].code]},
            )
            await notify.notify(ctx, uow, order, ev, notify.AUDIENCES["created"], actor.user_id)
            return order

        parent = await make(number, depts[0], None)
        for i, dept_id in enumerate(depts[1:], 1):
            await make(f"{number}/{i}", dept_id, parent)
        await uow.flush()
        parent_id = parent.id
        await uow.commit()
    return await card_after_change(ctx, uow, actor, parent_id)


async def _authorised(
    uow: UnitOfWork, actor: Actor, order_id: int, action: Action, version: int | None
) -> tuple[Order, OrderFacts]:
    """Load an order the actor may see and check the action against its current state and version."""
    order = await uow.orders.get_visible(order_id, policy.scope_for(actor))
    if order is None:
        raise NotFound("order")
    if version is not None and order.version != version:
        raise OrderChanged()
    facts = await _facts(uow, order)
    policy.ensure_can_act(actor, action, facts)
    return order, facts


async def perform(
    ctx: AppContext,
    uow: UnitOfWork,
    actor: Actor,
    order_id: int,
    action: Action,
    *,
    version: int | None = None,
    comment: str | None = None,
    executor_id: int | None = None,
    department_id: int | None = None,
    new_due: datetime | None = None,
    files: Sequence[AttachmentInfo] = (),
) -> OrderCard:
    """Do `action` on an order for `actor`. A stale version gives OrderChanged, a forbidden action NotAllowed.

    Two steps: everything is checked and worked out on a read-only snapshot (the new field values, the history
    payload, who is to be told); then one short write transaction re-reads the order, makes sure nobody
    changed it meanwhile (its version), and writes the change, the event and the notifications together.
    Writers on SQLite take turns, so the less a writer does the less the others wait.
    """
    now = ctx.clock.now()
    async with uow.reading() as reader:
        change, payload, to = await _plan(
            ctx, reader, actor, order_id, action, version, now, comment, executor_id, department_id, new_due, files
        )
    async with uow:
        order = await uow.orders.get(order_id)
        if order is None or order.version != change.pop("version"):
            raise OrderChanged()
        for column, value in change.items():
            setattr(order, column, value)
        try:
            await uow.flush()
            event = await _event(uow, order, actor.user_id, action.value, now, payload)
            _attach(uow, order, event, files)
            notify.write(ctx, uow, to, order_id, event)
            await uow.commit()
        except StaleDataError:
            raise OrderChanged() from None
    # The new card is read after the commit, so writers do not wait while it is put together.
    return await card_after_change(ctx, uow, actor, order_id)


# The columns an action may change.
_CHANGED = ("state", "executor_id", "executor_department_id", "due_at", "extension_due_at", "closed_at", "updated_at")


async def _plan(
    ctx: AppContext,
    uow: UnitOfWork,
    actor: Actor,
    order_id: int,
    action: Action,
    version: int | None,
    now: datetime,
    comment: str | None,
    executor_id: int | None,
    department_id: int | None,
    new_due: datetime | None,
    files: Sequence[AttachmentInfo],
) -> tuple[dict[str, Any], dict[str, Any], list[notify.Recipient]]:
    """Check `action` and work out its effect on a snapshot: (new column values and the version they apply
    to, the history payload, the recipients of the notification). Nothing is written."""
    order, facts = await _authorised(uow, actor, order_id, action, version)
    payload: dict[str, Any] = {}
    audiences = notify.AUDIENCES.get(action.value, frozenset())
    if action in NEEDS_TEXT or (action == Action.REPORT and not files):
        payload["comment"] = _clean_text(comment, COMMENT_MAX, "comment")
    elif comment and comment.strip():
        payload["comment"] = _clean_text(comment, COMMENT_MAX, "comment")

    if action in (Action.ACCEPT, Action.ASSIGN):
        if executor_id is None and (action == Action.ASSIGN or not actor.is_manager):
            executor_id = actor.user_id
        if executor_id is not None:
            who = await uow.users.get(executor_id)
            if who is None or who.status != "active" or who.department_id != order.executor_department_id:
                raise BadInput("executor")
            order.executor_id = executor_id
            payload["executor"] = who.full_name
    elif action == Action.FORWARD:
        target = await uow.departments.get(department_id) if department_id else None
        if target is None:
            raise NotFound("department")
        if target.id == order.executor_department_id:
            raise BadInput("same_department")
        source = await uow.departments.get(order.executor_department_id) if order.executor_department_id else None
        payload.update({"from": source.code if source else None, "to": target.code})
        order.executor_department_id = target.id
        order.executor_id = None
        order.extension_due_at = None  # a request of the previous department does not travel with it
    elif action == Action.REQUEST_EXTENSION:
        if new_due is None or order.due_at is None:
            raise BadDeadline("unparseable")
        order.extension_due_at = extend(order.due_at, new_due, now)
        payload["due_at"] = new_due.isoformat()
    elif action == Action.GRANT_EXTENSION:
        assert order.extension_due_at is not None and order.due_at is not None
        extend(order.due_at, order.extension_due_at, now)  # a request granted too late is refused
        payload.update(
            {
                "from": order.due_at.isoformat() if order.due_at else None,
                "due_at": order.extension_due_at.isoformat(),
            }
        )
        order.due_at, order.extension_due_at = order.extension_due_at, None
    elif action == Action.DENY_EXTENSION:
        order.extension_due_at = None
    elif action == Action.COMMENT:
        audiences = notify.comment_audience(actor, facts)

    order.state = next_state(State(order.state), action).value
    if order.state in (State.DONE, State.CANCELLED):
        order.closed_at = now
    elif action == Action.FORWARD:
        order.closed_at = None
    order.updated_at = now
    if files:
        payload["files"] = len(files)
    seen_version = order.version
    to = await notify.recipients(ctx, uow, order, audiences, actor.user_id)
    change: dict[str, Any] = {column: getattr(order, column) for column in _CHANGED}
    change["version"] = seen_version
    return change, payload, to


async def card_after_change(ctx: AppContext, uow: UnitOfWork, actor: Actor, order_id: int) -> OrderCard:
    async with uow.reading() as reader:
        order = await reader.orders.get(order_id)
        if order is None:
            raise NotFound("order")
        return await _card(ctx, reader, actor, order)


async def check_action(
    ctx: AppContext, uow: UnitOfWork, actor: Actor, order_id: int, action: Action, version: int | None
) -> OrderCard:
    """Is `action` possible for `actor` right now? Asked before a dialog collects a reason or a report,
    so nobody types a long text for a button that is stale. Returns the current card."""
    async with uow.reading() as uow:
        order, _facts_now = await _authorised(uow, actor, order_id, action, version)
        return await _card(ctx, uow, actor, order)


async def get_card(
    ctx: AppContext, uow: UnitOfWork, actor: Actor, order_id: int | None = None, number: str | None = None
) -> OrderCard:
    """Look an order up by id or number, through the visibility filter (invisible = not found)."""
    scope = policy.scope_for(actor)
    async with uow.reading() as uow:
        if order_id is not None:
            order = await uow.orders.get_visible(order_id, scope)
        elif number:
            order = await uow.orders.by_number(number.strip(), scope)
        else:
            order = None
        if order is None:
            raise NotFound("order")
        return await _card(ctx, uow, actor, order)


async def card_for_notifications(ctx: AppContext, uow: UnitOfWork, order_id: int) -> tuple[OrderCard, OrderFacts]:
    """The card of an order for its notifications, with the facts to compute each recipient's buttons
    (`for_viewer`); one load serves every recipient of a batch."""
    order = await uow.orders.get(order_id)
    if order is None:
        raise NotFound("order")
    children = await uow.orders.children(order.id)
    facts = await _facts(uow, order, children)
    return await _card(ctx, uow, None, order), facts


def for_viewer(card: OrderCard, facts: OrderFacts, viewer: Actor | None) -> OrderCard:
    """The same card with the buttons `viewer` may use (none for a department chat's own list)."""
    return replace(card, actions=tuple(policy.allowed_actions(viewer, facts)) if viewer else ())


async def history(ctx: AppContext, uow: UnitOfWork, actor: Actor, order_id: int) -> tuple[str, list[HistoryItem]]:
    """The order's number and its history (who, what, when), oldest first."""
    async with uow.reading() as uow:
        order = await uow.orders.get_visible(order_id, policy.scope_for(actor))
        if order is None:
            raise NotFound("order")
        events = await uow.events.history(order_id)
        users = await uow.users.many(e.actor_id for e in events)
        return order.number, [
            HistoryItem(e.created_at, users[e.actor_id].full_name if e.actor_id in users else None, e.type, e.payload)
            for e in events
        ]


async def list_orders(
    ctx: AppContext, uow: UnitOfWork, actor: Actor, flt: OrderFilter, page: int, page_size: int
) -> OrderPage:
    now = ctx.clock.now()
    page = max(page, 0)
    async with uow.reading() as uow:
        rows, total = await uow.orders.list(
            flt,
            policy.scope_for(actor),
            now,
            department_id=actor.department_id,
            manager=policy.sees_department_boxes(actor),
            offset=page * page_size,
            limit=page_size,
        )
        items = tuple(
            OrderRow(
                o.id,
                o.number,
                o.title,
                State(o.state),
                Priority(o.priority),
                o.due_at,
                is_overdue(o.due_at, State(o.state), now),
            )
            for o in rows
        )
    return OrderPage(items, total, page, max(1, math.ceil(total / page_size)))
