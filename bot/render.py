"""Rendering for people: the order card, lists, history, event headlines and error messages.

The single place where an order is turned into text. Everything goes through gettext and is HTML-escaped.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from aiogram.utils.i18n import gettext as _

from bot.domain.errors import BadDeadline, BadInput, DomainError, NotAllowed, NotFound, OrderChanged
from bot.domain.policy import Role
from bot.domain.states import Action, Priority, State
from bot.i18n import current_locale, fmt_datetime, fmt_delta, fmt_short
from bot.services.dto import DepartmentInfo, HistoryItem, OrderCard, OrderPage, OrderRow

MESSAGE_LIMIT = 4096
# The order's text in a card; with the other lines the card stays well under MESSAGE_LIMIT.
CARD_TEXT_LIMIT = 3000

PRIORITY_ICON = {Priority.LOW: "⚪️", Priority.NORMAL: "🔵", Priority.HIGH: "🟠", Priority.URGENT: "🔴"}


def state_name(state: State) -> str:
    return {
        State.NEW: _("New"),
        State.IN_PROGRESS: _("In progress"),
        State.ON_REVIEW: _("On review"),
        State.DONE: _("Done"),
        State.DECLINED: _("Declined"),
        State.CANCELLED: _("Cancelled"),
    }[state]


def priority_name(priority: Priority) -> str:
    return {
        Priority.LOW: _("Low"),
        Priority.NORMAL: _("Normal"),
        Priority.HIGH: _("High"),
        Priority.URGENT: _("Urgent"),
    }[priority]


def role_name(role: Role) -> str:
    return {
        Role.EMPLOYEE: _("employee"),
        Role.DEPUTY: _("deputy head"),
        Role.HEAD: _("head"),
        Role.CONTROLLER: _("controller"),
        Role.ADMIN: _("administrator"),
    }[role]


def action_label(action: Action) -> str:
    """Button labels."""
    return {
        Action.ACCEPT: _("✅ Accept"),
        Action.ASSIGN: _("👤 Assign"),
        Action.FORWARD: _("↪️ Forward"),
        Action.DECLINE: _("⛔️ Decline"),
        Action.REPORT: _("📝 Report"),
        Action.RETURN: _("🔁 Return for rework"),
        Action.CLOSE: _("🏁 Close"),
        Action.CANCEL: _("✖️ Cancel order"),
        Action.COMMENT: _("💬 Comment"),
        Action.REQUEST_EXTENSION: _("⏳ Ask for more time"),
        Action.GRANT_EXTENSION: _("✅ Grant extension"),
        Action.DENY_EXTENSION: _("❌ Deny extension"),
    }[action]


def dept_title(dept: DepartmentInfo | None) -> str:
    if dept is None:
        return "—"
    return escape(dept.title(current_locale()))


def deadline_text(due: datetime | None, state: State, overdue: bool, now: datetime, tz: ZoneInfo) -> str:
    if due is None:
        return "—"
    when = fmt_datetime(due, tz)
    if state in (State.DONE, State.CANCELLED):
        return when
    if overdue:
        return "{when} ⚠️ <b>{rel}</b>".format(when=when, rel=_("overdue by {delta}").format(delta=fmt_delta(now - due)))
    return "{when} ({rel})".format(when=when, rel=_("in {delta}").format(delta=fmt_delta(due - now)))


def card(c: OrderCard, now: datetime, tz: ZoneInfo, *, full_text: bool = True) -> str:
    """The order card: number, title, text, issuer, executor, deadline, priority, sub-orders, attachments."""
    lines = [
        f"{PRIORITY_ICON[c.priority]} <b>{escape(c.number)}</b> · {priority_name(c.priority)}",
        f"<b>{escape(c.title)}</b>",
    ]
    if full_text and c.text and c.text.strip() != c.title.strip():
        # Clip before escaping (never cut an entity in half); the card must fit in one message.
        body = c.text if len(c.text) <= CARD_TEXT_LIMIT else c.text[: CARD_TEXT_LIMIT - 1] + "…"
        lines.append(escape(body))
    lines.append("")
    lines.append(_("Status: {state}").format(state=state_name(c.state)))
    lines.append(_("Deadline: {deadline}").format(deadline=deadline_text(c.due_at, c.state, c.overdue, now, tz)))
    if c.extension_due_at is not None:
        lines.append(_("Extension requested until {date}").format(date=fmt_datetime(c.extension_due_at, tz)))
    lines.append(
        _("Issuer: {name} ({department})").format(
            name=escape(c.issuer_name or "—"), department=dept_title(c.issuer_department)
        )
    )
    executor = dept_title(c.executor_department)
    if c.executor_name:
        executor += " — " + escape(c.executor_name)
    lines.append(_("Executor: {executor}").format(executor=executor))
    if c.controller_name:
        lines.append(_("On control: {name}").format(name=escape(c.controller_name)))
    if c.parent_number:
        lines.append(_("Part of order {number}").format(number=escape(c.parent_number)))
    if c.children:
        lines.append(_("Sub-orders:"))
        for ch in c.children:
            mark = " ⚠️" if ch.overdue else ""
            lines.append(f"  • {escape(ch.number)} {dept_title(ch.department)}: {state_name(ch.state)}{mark}")
    if c.attachments:
        lines.append(_("Attachments: {count}").format(count=len(c.attachments)))
    return "\n".join(lines)


def split_text(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split a long text at line breaks into messages Telegram accepts (each at most `limit` characters).

    Lines must not carry HTML tags across a break; our history and list lines are self-contained."""
    chunks: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:  # a single overlong line: hard cut
            if current:
                chunks.append(current)
                current = ""
            chunks.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            chunks.append(current)
            current = line
        else:
            current = candidate
    if current or not chunks:
        chunks.append(current)
    return chunks


def _payload_text(p: dict[str, Any], tz: ZoneInfo) -> str:
    parts = []
    if p.get("executor"):
        parts.append(_("executor: {name}").format(name=escape(str(p["executor"]))))
    if p.get("to"):
        parts.append(_("to {department}").format(department=escape(str(p["to"]))))
    if p.get("due_at"):
        parts.append(_("until {date}").format(date=fmt_short(datetime.fromisoformat(p["due_at"]), tz)))
    if p.get("files"):
        parts.append(_("{count} file", "{count} files", int(p["files"])).format(count=p["files"]))
    if p.get("comment"):
        parts.append("«{}»".format(escape(str(p["comment"]))))
    return "; ".join(parts)


def event_name(kind: str) -> str:
    return {
        "created": _("issued the order"),
        "accept": _("accepted it"),
        "assign": _("assigned an executor"),
        "forward": _("forwarded it"),
        "decline": _("declined it"),
        "report": _("reported completion"),
        "return": _("returned it for rework"),
        "close": _("closed it"),
        "cancel": _("cancelled it"),
        "comment": _("commented"),
        "request_extension": _("asked for more time"),
        "grant_extension": _("granted the extension"),
        "deny_extension": _("denied the extension"),
    }.get(kind, kind)


def history(number: str, items: list[HistoryItem], tz: ZoneInfo) -> str:
    lines = [_("<b>History of {number}</b>").format(number=escape(number))]
    for item in items:
        detail = _payload_text(item.payload or {}, tz)
        lines.append(
            "{at} — {actor}: {what}{detail}".format(
                at=fmt_short(item.at, tz),
                actor=escape(item.actor_name or _("system")),
                what=event_name(item.type),
                detail=f" ({detail})" if detail else "",
            )
        )
    return "\n".join(lines)


def headline(kind: str, actor_name: str | None, payload: dict[str, Any], tz: ZoneInfo) -> str:
    """The first line of a notification: what happened and who did it."""
    who = escape(actor_name or _("system"))
    texts = {
        "created": _("📨 New order from {actor}"),
        "accept": _("✅ {actor} accepted the order"),
        "assign": _("👤 {actor} assigned you as the executor"),
        "forward": _("↪️ {actor} forwarded the order"),
        "decline": _("⛔️ {actor} declined the order"),
        "report": _("📝 {actor} reported completion"),
        "return": _("🔁 {actor} returned the order for rework"),
        "close": _("🏁 {actor} closed the order"),
        "cancel": _("✖️ {actor} cancelled the order"),
        "comment": _("💬 Comment from {actor}"),
        "request_extension": _("⏳ {actor} asks for more time"),
        "grant_extension": _("✅ {actor} granted the extension"),
        "deny_extension": _("❌ {actor} denied the extension"),
    }
    text = texts.get(kind, kind).format(actor=who)
    detail = _payload_text(payload, tz)
    return f"<b>{text}</b>" + (f"\n{detail}" if detail else "")


def order_row(r: OrderRow, tz: ZoneInfo) -> str:
    mark = "⚠️ " if r.overdue else ""
    due = fmt_short(r.due_at, tz) if r.due_at else "—"
    title = r.title if len(r.title) <= 60 else r.title[:59] + "…"
    return "{mark}{icon} <b>{number}</b> · {title}\n     {state} · {due}".format(
        mark=mark,
        icon=PRIORITY_ICON[r.priority],
        number=escape(r.number),
        title=escape(title),
        state=state_name(r.state),
        due=_("due {date}").format(date=due),
    )


def order_list(title: str, page: OrderPage, tz: ZoneInfo) -> str:
    if not page.items:
        return "<b>{}</b>\n\n{}".format(title, _("No orders here."))
    head = "<b>{}</b> · {}".format(
        title,
        _("page {page} of {pages}, {total} in all").format(page=page.page + 1, pages=page.pages, total=page.total),
    )
    return head + "\n\n" + "\n".join(order_row(r, tz) for r in page.items)


def join_request(name: str, username: str | None) -> str:
    who = escape(name) + (f" (@{escape(username)})" if username else "")
    return _("🙋 {who} asks to join. Choose a department to approve, or reject.").format(who=who)


def error_text(exc: DomainError) -> str:
    """The translated message for each domain refusal (one place, used by the global error handler)."""
    if isinstance(exc, OrderChanged):
        return _("The order has changed meanwhile. Here is its current state.")
    if isinstance(exc, NotAllowed):
        return _("You are not allowed to do this.")
    if isinstance(exc, NotFound):
        return _("Not found, or you have no access to it.")
    if isinstance(exc, BadDeadline):
        if exc.reason == "past":
            return _("That moment has already passed. Please give a deadline in the future.")
        return _("I could not read that date. Write it like 25.12 18:00 or 25.12.2026.")
    if isinstance(exc, BadInput):
        return bad_input_text(exc)
    return _("Something went wrong.")


def bad_input_text(exc: BadInput) -> str:
    p = exc.params
    match exc.code:
        case "text_empty" | "comment_empty":
            return _("The text is empty. Please write something.")
        case "text_too_long" | "comment_too_long" | "title_too_long":
            return _("The text is too long: {length} characters, at most {limit} are allowed.").format(**p)
        case "no_departments":
            return _("Choose at least one executor department.")
        case "executor":
            return _("The executor must be an active employee of the executor department.")
        case "same_department":
            return _("The order is already with that department.")
        case "language":
            return _("That language is not supported.")
        case "role":
            return _("Unknown role.")
        case "filter" | "action":
            return _("This button is no longer valid.")
        case "import_format":
            return _("The file is not a valid organisation description: {detail}").format(detail=escape(str(p)))
    return _("That input is not valid.")
