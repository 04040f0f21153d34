"""Issuing an order: the guided dialog departments → text → deadline → priority → control → confirm → issue.

The half-made order lives in the FSM state as plain JSON (the storage is the database), so it survives a
restart. Each step has one function that renders its prompt; the confirm screen's edit buttons reuse it and
come back to the summary. The service re-checks everything on issue; here we only guide and validate input.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from html import escape
from typing import Any

from aiogram import BaseMiddleware, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Chat, InlineKeyboardMarkup, Message, TelegramObject
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext

from bot import render
from bot.domain.deadlines import END_OF_DAY, Quick, parse_deadline, quick_deadline
from bot.domain.errors import BadDeadline, BadInput, NotFound
from bot.domain.policy import Actor, can_issue
from bot.domain.states import Priority
from bot.i18n import current_locale, fmt_datetime
from bot.services import orders, users
from bot.services.context import AppContext
from bot.services.dto import AttachmentInfo, DepartmentInfo, Draft
from handlers.filters import Active
from handlers.media import attachment_of
from keyboards import new_order as kb
from keyboards.menu import NEW_ORDER
from keyboards.orders import card_keyboard
from storage.uow import UnitOfWork

# Room left for the order text on the summary screen (the rest of the message needs the remainder of 4096).
_PREVIEW_BUDGET = 2500


class NewOrder(StatesGroup):
    departments = State()
    text = State()
    deadline = State()
    priority = State()
    controller = State()
    confirm = State()


_STATE = {
    kb.Step.DEPARTMENTS: NewOrder.departments,
    kb.Step.TEXT: NewOrder.text,
    kb.Step.DEADLINE: NewOrder.deadline,
    kb.Step.PRIORITY: NewOrder.priority,
    kb.Step.CONTROLLER: NewOrder.controller,
}
_STEPS = list(_STATE)


@dataclass
class Form:
    """The draft as stored in the FSM data (JSON only: ids, strings, ISO dates)."""

    depts: list[int] = field(default_factory=list)
    node: int = -1  # the department level being browsed; -1: the top of the tree
    page: int = 0
    query: str = ""  # department search, when the user typed one
    text: str = ""
    files: list[dict[str, Any]] = field(default_factory=list)
    # What the text step collected so far; it replaces text/files only when the user presses Next.
    buf_text: str = ""
    buf_files: list[dict[str, Any]] = field(default_factory=list)
    due: str = ""  # ISO, UTC
    prio: str = Priority.NORMAL.value
    ctrl: int = 0  # controller's user id, 0: no control
    ctrl_name: str = ""
    ctrl_page: int = 0
    editing: bool = False  # the step was opened from the summary and returns to it

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> Form:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


class _OnePerChat(BaseMiddleware):
    """One update per chat at a time in this dialog. Every step is a read-modify-write of the draft in the FSM
    storage, and an album arrives as several messages at once (polling handles updates concurrently)."""

    def __init__(self) -> None:
        self._locks: dict[int, asyncio.Lock] = {}
        self._waiting: dict[int, int] = {}

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        chat: Chat | None = data.get("event_chat")
        if chat is None:
            return await handler(event, data)
        lock = self._locks.setdefault(chat.id, asyncio.Lock())
        self._waiting[chat.id] = self._waiting.get(chat.id, 0) + 1
        try:
            async with lock:
                return await handler(event, data)
        finally:
            self._waiting[chat.id] -= 1
            if not self._waiting[chat.id]:
                del self._waiting[chat.id], self._locks[chat.id]


async def _load(state: FSMContext) -> Form:
    return Form.of(await state.get_data())


async def _save(state: FSMContext, form: Form) -> None:
    await state.set_data(asdict(form))


async def _controllers(uow: UnitOfWork) -> list[tuple[int, str]]:
    """Active users of the control office, as (id, full name)."""
    return [(u.id, u.full_name) for u in await users.controllers(uow)]


async def _show(event: Message | CallbackQuery, text: str, markup: InlineKeyboardMarkup | None) -> None:
    """A typed message gets a new answer; a button press edits the dialog message in place when it can."""
    if isinstance(event, Message):
        await event.answer(text, reply_markup=markup)
        return
    if isinstance(event.message, Message):
        try:
            await event.message.edit_text(text, reply_markup=markup)
            return
        except TelegramBadRequest as exc:
            if "not modified" in str(exc):
                return
    if event.bot is not None:
        await event.bot.send_message(event.from_user.id, text, reply_markup=markup)


def _clip(text: str, budget: int) -> str:
    """Escape `text` for HTML, cutting it so that the escaped form fits in `budget` characters."""
    out = escape(text, quote=False)
    while len(out) > budget:
        text = text[: max(len(text) * 2 // 3, 1)]
        out = escape(text, quote=False) + "…"
    return out


def _heading(step: kb.Step, title: str) -> str:
    n = _STEPS.index(step) + 1
    return "<b>{title}</b> · {step}".format(title=title, step=_("step {n} of {total}").format(n=n, total=len(_STEPS)))


def _files_text(count: int) -> str:
    return ngettext("{count} file", "{count} files", count).format(count=count)


# --- the prompt of each step ---------------------------------------------------------------------------------


async def _render(
    step: kb.Step | None, form: Form, ctx: AppContext, uow: UnitOfWork
) -> tuple[str, InlineKeyboardMarkup]:
    """The text and keyboard of a step (None: the summary). The single renderer for flow and edit jumps."""
    match step:
        case kb.Step.DEPARTMENTS:
            return await _departments_prompt(form, uow)
        case kb.Step.TEXT:
            return _text_prompt(form)
        case kb.Step.DEADLINE:
            return _deadline_prompt(form, ctx)
        case kb.Step.PRIORITY:
            text = _heading(step, _("Priority")) + "\n" + _("How urgent is it?")
            return text, kb.priority_keyboard(Priority(form.prio), form.editing)
        case kb.Step.CONTROLLER:
            return await _controller_prompt(form, uow)
    return await _summary(form, ctx, uow)


async def _departments_prompt(form: Form, uow: UnitOfWork) -> tuple[str, InlineKeyboardMarkup]:
    depts = await users.departments(uow)
    locale = current_locale()
    node = form.node if form.node >= 0 else kb.top_node(depts)
    lines = [
        _heading(kb.Step.DEPARTMENTS, _("Executor departments")),
        _(
            "Choose one or several departments (⬜️ → ☑️). 📂 opens the departments inside one. "
            "You can also type a part of a name to search."
        ),
        "",
    ]
    if form.query:
        found = len(kb.search(depts, form.query))
        if found:
            lines.append(_("🔎 «{query}»: {count} found").format(query=escape(form.query), count=found))
        else:
            lines.append(_("🔎 Nothing found for «{query}».").format(query=escape(form.query)))
    elif crumbs := kb.path(depts, node):
        lines.append("📂 " + " › ".join(escape(d.title(locale)) for d in crumbs))
    chosen = [d for d in depts if d.id in form.depts]
    if chosen:
        lines.append(_("Selected: {departments}").format(departments=_dept_list(chosen, locale)))
    else:
        lines.append(_("Nothing selected yet."))
    markup = kb.departments_keyboard(depts, form.depts, node=node, page=form.page, query=form.query, locale=locale)
    return "\n".join(lines), markup


def _text_prompt(form: Form) -> tuple[str, InlineKeyboardMarkup]:
    has_input = bool(form.buf_text or form.buf_files)
    lines = [_heading(kb.Step.TEXT, _("Text"))]
    if has_input:
        lines.append(
            _("Received: {chars}, {files}. Send more, or press Next.").format(
                chars=ngettext("{count} character", "{count} characters", len(form.buf_text)).format(
                    count=len(form.buf_text)
                ),
                files=_files_text(len(form.buf_files)),
            )
        )
    else:
        lines.append(
            _(
                "Send the text of the order (at most {limit} characters). You can also forward a message, "
                "or send photos and documents: their captions become the text. Send several messages "
                "if needed, then press Next."
            ).format(limit=orders.TEXT_MAX)
        )
        if form.editing:
            lines.append(_("The new text replaces the current one."))
    return "\n".join(lines), kb.text_keyboard(has_input, form.editing)


def _deadline_prompt(form: Form, ctx: AppContext) -> tuple[str, InlineKeyboardMarkup]:
    lines = [
        _heading(kb.Step.DEADLINE, _("Deadline")),
        _("Choose a deadline or type it, like 25.12 18:00 or 25.12.2026 (a date alone means {time}).").format(
            time=END_OF_DAY.strftime("%H:%M")
        ),
    ]
    if form.due:
        lines.append(_("Now: {date}").format(date=fmt_datetime(datetime.fromisoformat(form.due), ctx.tz)))
    return "\n".join(lines), kb.deadline_keyboard(form.editing)


async def _controller_prompt(form: Form, uow: UnitOfWork) -> tuple[str, InlineKeyboardMarkup]:
    people = await _controllers(uow)
    lines = [
        _heading(kb.Step.CONTROLLER, _("Control")),
        _("Put the order on control? The controller watches the deadline and accepts the report."),
    ]
    if not people:
        lines.append(_("There are no controllers yet."))
    return "\n".join(lines), kb.controller_keyboard(people, form.ctrl, form.ctrl_page, form.editing)


def _dept_list(chosen: list[DepartmentInfo], locale: str) -> str:
    return "; ".join(escape(d.title(locale)) for d in chosen)


async def _summary(form: Form, ctx: AppContext, uow: UnitOfWork) -> tuple[str, InlineKeyboardMarkup]:
    depts = {d.id: d for d in await users.departments(uow)}
    chosen = [depts[i] for i in form.depts if i in depts]
    prio = Priority(form.prio)
    lines = [
        "<b>{}</b>".format(_("New order: check and issue")),
        "",
        _("Executors: {departments}").format(departments=_dept_list(chosen, current_locale()) or "—"),
    ]
    if len(chosen) > 1:
        lines.append(_("The first department is responsible; each department also gets its own sub-order."))
    lines.append(_("Title: {title}").format(title="<b>{}</b>".format(escape(_title(form)) or "—")))
    if form.text:
        lines.append(_("Text:") + "\n" + _clip(form.text, _PREVIEW_BUDGET))
    if form.files:
        lines.append(_("Attachments: {files}").format(files=_files_text(len(form.files))))
    due = fmt_datetime(datetime.fromisoformat(form.due), ctx.tz) if form.due else "—"
    lines.append(_("Deadline: {deadline}").format(deadline=due))
    lines.append(
        _("Priority: {priority}").format(priority=f"{render.PRIORITY_ICON[prio]} {render.priority_name(prio)}")
    )
    control = escape(form.ctrl_name) if form.ctrl else _("no control")
    lines.append(_("Control: {controller}").format(controller=control))
    return "\n".join(lines), kb.confirm_keyboard()


def _title(form: Form) -> str:
    if form.text.strip():
        return orders.title_from_text(form.text)
    names = [str(f["file_name"]) for f in form.files if f.get("file_name")]
    return orders.title_from_text(names[0]) if names else ""


# --- moving between steps ------------------------------------------------------------------------------------


async def _goto(
    event: Message | CallbackQuery,
    state: FSMContext,
    form: Form,
    ctx: AppContext,
    uow: UnitOfWork,
    step: kb.Step | None,
    note: str = "",
) -> None:
    """Open a step afresh (None: the summary), remember the draft and show the step's prompt."""
    if step is None:
        form.editing = False
        await state.set_state(NewOrder.confirm)
    else:
        if step == kb.Step.DEPARTMENTS:
            form.node, form.page, form.query = -1, 0, ""
        elif step == kb.Step.TEXT:
            form.buf_text, form.buf_files = "", []
        elif step == kb.Step.CONTROLLER:
            form.ctrl_page = 0
        await state.set_state(_STATE[step])
    await _save(state, form)
    text, markup = await _render(step, form, ctx, uow)
    await _show(event, f"{note}\n\n{text}" if note else text, markup)


async def _done(
    event: Message | CallbackQuery, state: FSMContext, form: Form, ctx: AppContext, uow: UnitOfWork, step: kb.Step
) -> None:
    """A step is complete: on to the next one, or back to the summary when editing or at the end."""
    i = _STEPS.index(step)
    following = None if form.editing or i + 1 == len(_STEPS) else _STEPS[i + 1]
    await _goto(event, state, form, ctx, uow, following)


def _step_of(raw_state: str | None) -> kb.Step | None:
    for step, st in _STATE.items():
        if st.state == raw_state:
            return step
    return None


async def _redraw(
    event: Message | CallbackQuery, state: FSMContext, form: Form, ctx: AppContext, uow: UnitOfWork
) -> None:
    """Show the current step again with what the draft holds now (no reset)."""
    await _save(state, form)
    text, markup = await _render(_step_of(await state.get_state()), form, ctx, uow)
    await _show(event, text, markup)


# --- entry ---------------------------------------------------------------------------------------------------


async def start(message: Message, state: FSMContext, ctx: AppContext, uow: UnitOfWork, actor: Actor) -> None:
    """/new or the menu button: start a draft, or show the unfinished one where the user left it."""
    if not can_issue(actor):
        await message.answer(_("Only heads of departments, their deputies and administrators can issue orders."))
        return
    raw = await state.get_state()
    if raw in NewOrder.__all_states_names__:
        form = await _load(state)
        text, markup = await _render(_step_of(raw), form, ctx, uow)
        note = _("You have an unfinished order, here it is. Press Cancel to discard it.")
        await message.answer(f"{note}\n\n{text}", reply_markup=markup)
        return
    await state.set_data({})
    await _goto(message, state, Form(), ctx, uow, kb.Step.DEPARTMENTS)


# --- step 1: departments -------------------------------------------------------------------------------------


async def _known_department(uow: UnitOfWork, department_id: int) -> None:
    if department_id not in {d.id for d in await users.departments(uow)}:
        raise NotFound("department")


async def toggle_department(
    callback: CallbackQuery, callback_data: kb.DeptToggle, state: FSMContext, ctx: AppContext, uow: UnitOfWork
) -> None:
    await _known_department(uow, callback_data.d)
    form = await _load(state)
    if callback_data.d in form.depts:
        form.depts.remove(callback_data.d)
    else:
        form.depts.append(callback_data.d)
    await _redraw(callback, state, form, ctx, uow)
    await callback.answer()


async def browse_departments(
    callback: CallbackQuery, callback_data: kb.DeptNav, state: FSMContext, ctx: AppContext, uow: UnitOfWork
) -> None:
    if callback_data.d != 0:
        await _known_department(uow, callback_data.d)
    form = await _load(state)
    form.node, form.page = callback_data.d, callback_data.p
    if not callback_data.s:
        form.query = ""
    await _redraw(callback, state, form, ctx, uow)
    await callback.answer()


async def search_departments(message: Message, state: FSMContext, ctx: AppContext, uow: UnitOfWork) -> None:
    """Typed text in the department step searches by name, English name and code."""
    form = await _load(state)
    form.query, form.page = (message.text or "").strip()[:100], 0
    await _redraw(message, state, form, ctx, uow)


async def departments_done(callback: CallbackQuery, state: FSMContext, ctx: AppContext, uow: UnitOfWork) -> None:
    form = await _load(state)
    if not form.depts:
        raise BadInput("no_departments")
    await _done(callback, state, form, ctx, uow, kb.Step.DEPARTMENTS)
    await callback.answer()


# --- step 2: text and files ----------------------------------------------------------------------------------


async def collect_text(message: Message, state: FSMContext, ctx: AppContext, uow: UnitOfWork) -> None:
    """Text, a forwarded message, a photo or a document: added to the draft until the user presses Next."""
    file = attachment_of(message)
    if file is None and message.text is None:
        await unsupported_text(message)
        return
    form = await _load(state)
    piece = (message.text or message.caption or "").strip()
    combined = "\n\n".join(p for p in (form.buf_text, piece) if p)
    if len(combined) > orders.TEXT_MAX:
        await message.answer(
            render.error_text(BadInput("text_too_long", length=len(combined), limit=orders.TEXT_MAX))
            + "\n"
            + _("This message was not added; send a shorter text.")
        )
        return
    if not piece and file is None:
        raise BadInput("text_empty")
    form.buf_text = combined
    if file is not None:
        form.buf_files.append(asdict(file))
    await _redraw(message, state, form, ctx, uow)


async def unsupported_text(message: Message) -> None:
    """Voice, video, stickers, locations...: say what the text step accepts."""
    await message.answer(
        _(
            "I can take text, photos and documents (files) for an order. Voice messages, videos, stickers, "
            "locations and the like cannot be attached: send a file or describe it in words."
        )
    )


async def text_done(callback: CallbackQuery, state: FSMContext, ctx: AppContext, uow: UnitOfWork) -> None:
    form = await _load(state)
    if not form.buf_text and not form.buf_files:
        raise BadInput("text_empty")
    form.text, form.files = form.buf_text, form.buf_files
    form.buf_text, form.buf_files = "", []
    await _done(callback, state, form, ctx, uow, kb.Step.TEXT)
    await callback.answer()


# --- step 3: deadline ----------------------------------------------------------------------------------------


async def quick_deadline_picked(
    callback: CallbackQuery, callback_data: kb.DeadlinePick, state: FSMContext, ctx: AppContext, uow: UnitOfWork
) -> None:
    try:
        choice = Quick(callback_data.q)
    except ValueError:
        raise BadInput("deadline") from None
    due = quick_deadline(choice, ctx.clock.now(), ctx.tz)
    form = await _load(state)
    form.due = due.isoformat()
    await _done(callback, state, form, ctx, uow, kb.Step.DEADLINE)
    await callback.answer()


async def typed_deadline(message: Message, state: FSMContext, ctx: AppContext, uow: UnitOfWork) -> None:
    form = await _load(state)
    try:
        due = parse_deadline(message.text or "", ctx.clock.now(), ctx.tz)
    except BadDeadline as exc:
        text, markup = _deadline_prompt(form, ctx)
        await message.answer(f"{render.error_text(exc)}\n\n{text}", reply_markup=markup)
        return
    form.due = due.isoformat()
    await _done(message, state, form, ctx, uow, kb.Step.DEADLINE)


# --- steps 4 and 5: priority, control ------------------------------------------------------------------------


async def priority_picked(
    callback: CallbackQuery, callback_data: kb.PriorityPick, state: FSMContext, ctx: AppContext, uow: UnitOfWork
) -> None:
    try:
        prio = Priority(callback_data.p)
    except ValueError:
        raise BadInput("priority") from None
    form = await _load(state)
    form.prio = prio.value
    await _done(callback, state, form, ctx, uow, kb.Step.PRIORITY)
    await callback.answer()


async def controller_picked(
    callback: CallbackQuery, callback_data: kb.ControllerPick, state: FSMContext, ctx: AppContext, uow: UnitOfWork
) -> None:
    form = await _load(state)
    if callback_data.u == 0:
        form.ctrl, form.ctrl_name = 0, ""
    else:
        names = dict(await _controllers(uow))
        if callback_data.u not in names:
            raise NotFound("controller")
        form.ctrl, form.ctrl_name = callback_data.u, names[callback_data.u]
    await _done(callback, state, form, ctx, uow, kb.Step.CONTROLLER)
    await callback.answer()


async def controller_page(
    callback: CallbackQuery, callback_data: kb.ControllerPage, state: FSMContext, ctx: AppContext, uow: UnitOfWork
) -> None:
    form = await _load(state)
    form.ctrl_page = callback_data.p
    await _redraw(callback, state, form, ctx, uow)
    await callback.answer()


# --- summary, edits, issue, cancel ---------------------------------------------------------------------------


async def edit_step(
    callback: CallbackQuery, callback_data: kb.EditStep, state: FSMContext, ctx: AppContext, uow: UnitOfWork
) -> None:
    try:
        step = kb.Step(callback_data.s)
    except ValueError:
        raise BadInput("step") from None
    form = await _load(state)
    form.editing = True
    await _goto(callback, state, form, ctx, uow, step)
    await callback.answer()


async def back_to_summary(callback: CallbackQuery, state: FSMContext, ctx: AppContext, uow: UnitOfWork) -> None:
    form = await _load(state)
    if not form.editing:
        await callback.answer(_("This button is no longer valid."), show_alert=True)
        return
    form.buf_text, form.buf_files = "", []
    await _goto(callback, state, form, ctx, uow, None)
    await callback.answer()


async def issue(callback: CallbackQuery, state: FSMContext, ctx: AppContext, uow: UnitOfWork, actor: Actor) -> None:
    """Issue the order (several departments: the service makes a parent and sub-orders) and show its card."""
    if await state.get_state() != NewOrder.confirm.state:  # a second press, already being issued or issued
        await stale_button(callback, state)
        return
    form = await _load(state)
    missing = next(
        (
            step
            for step, ok in (
                (kb.Step.DEPARTMENTS, form.depts),
                (kb.Step.TEXT, form.text or form.files),
                (kb.Step.DEADLINE, form.due),
            )
            if not ok
        ),
        None,
    )
    if missing is not None:  # only a tampered or half-migrated draft gets here
        form.editing = True
        await _goto(callback, state, form, ctx, uow, missing)
        await callback.answer()
        return
    draft = Draft(
        title=_title(form),
        text=form.text,
        executor_department_ids=tuple(form.depts),
        due_at=datetime.fromisoformat(form.due),
        priority=Priority(form.prio),
        controller_id=form.ctrl or None,
        attachments=tuple(AttachmentInfo(**f) for f in form.files),
    )
    # Leave the confirm state first, so that a second press of Issue cannot issue the same draft twice.
    await state.set_state(None)
    try:
        card = await orders.create_order(ctx, uow, actor, draft)
    except BadDeadline as exc:
        form.editing = True
        await _goto(callback, state, form, ctx, uow, kb.Step.DEADLINE, note=render.error_text(exc))
        await callback.answer()
        return
    except Exception:
        await state.set_state(NewOrder.confirm)
        raise
    await state.clear()
    await _show(callback, _("✅ Order {number} issued.").format(number=escape(card.number)), None)
    if isinstance(callback.message, Message):
        await callback.message.answer(render.card(card, ctx.clock.now(), ctx.tz), reply_markup=card_keyboard(card))
    elif callback.bot is not None:
        await callback.bot.send_message(
            callback.from_user.id, render.card(card, ctx.clock.now(), ctx.tz), reply_markup=card_keyboard(card)
        )
    await callback.answer(_("Order {number} issued.").format(number=card.number))


async def cancel(callback: CallbackQuery, state: FSMContext) -> None:
    await state.clear()
    await _show(callback, _("The draft order is discarded."), None)
    await callback.answer()


async def stray_message(message: Message, state: FSMContext, ctx: AppContext, uow: UnitOfWork) -> None:
    """A message the current step cannot use: say what it expects and show the step again."""
    form = await _load(state)
    text, markup = await _render(_step_of(await state.get_state()), form, ctx, uow)
    await message.answer("{}\n\n{}".format(_("Please use the buttons below."), text), reply_markup=markup)


async def stale_button(callback: CallbackQuery, state: FSMContext) -> None:
    """A dialog button whose step is over (or whose draft is gone, e.g. issued or cancelled)."""
    if await state.get_state() in NewOrder.__all_states_names__:
        await callback.answer(_("This button belongs to another step. Please use the latest message."), show_alert=True)
    else:
        await callback.answer(_("This draft is no longer active. Start a new order with /new."), show_alert=True)


def setup() -> Router:
    router = Router(name=__name__)
    serial = _OnePerChat()
    router.message.outer_middleware(serial)
    router.callback_query.outer_middleware(serial)
    router.message.filter(F.chat.type == "private", Active())
    router.callback_query.filter(F.message.chat.type == "private", Active())

    router.message.register(start, Command("new"))
    router.message.register(start, F.text == NEW_ORDER)

    router.callback_query.register(toggle_department, kb.DeptToggle.filter(), NewOrder.departments)
    router.callback_query.register(browse_departments, kb.DeptNav.filter(), NewOrder.departments)
    router.callback_query.register(departments_done, kb.DialogAct.filter(F.a == "done"), NewOrder.departments)
    router.message.register(search_departments, NewOrder.departments, F.text, ~F.text.startswith("/"))

    router.message.register(collect_text, NewOrder.text, ~F.text.startswith("/"))
    router.callback_query.register(text_done, kb.DialogAct.filter(F.a == "next"), NewOrder.text)

    router.callback_query.register(quick_deadline_picked, kb.DeadlinePick.filter(), NewOrder.deadline)
    router.message.register(typed_deadline, NewOrder.deadline, F.text, ~F.text.startswith("/"))

    router.callback_query.register(priority_picked, kb.PriorityPick.filter(), NewOrder.priority)
    router.callback_query.register(controller_picked, kb.ControllerPick.filter(), NewOrder.controller)
    router.callback_query.register(controller_page, kb.ControllerPage.filter(), NewOrder.controller)

    router.callback_query.register(edit_step, kb.EditStep.filter(), NewOrder.confirm)
    router.callback_query.register(issue, kb.DialogAct.filter(F.a == "issue"), NewOrder.confirm)
    router.callback_query.register(back_to_summary, kb.DialogAct.filter(F.a == "back"), StateFilter(NewOrder))
    router.callback_query.register(cancel, kb.DialogAct.filter(F.a == "cancel"), StateFilter(NewOrder))

    router.message.register(stray_message, StateFilter(NewOrder), ~F.text.startswith("/"))
    prefixes = tuple(f"{cls.__prefix__}:" for cls in kb.ALL_CALLBACKS)
    router.callback_query.register(stale_button, F.data.startswith(prefixes))
    return router
