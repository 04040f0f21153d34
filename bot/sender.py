"""The notification sender: drains the outbox and delivers each row through its channel.

Rows are rendered at delivery time in the recipient's language, with the buttons the recipient may use on
the order's current state. Telegram's answer decides the row's fate: 429 reschedules after retry_after,
403 (blocked, never started) marks it failed, network and server errors retry with backoff. A row whose
text went out but one of its files did not resumes after the part already delivered, so nobody gets a
notification twice. Different chats are served concurrently; one chat's rows go out in order.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from html import escape
from typing import Any

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import render
from bot.domain.policy import Actor, OrderFacts, Role
from bot.services import orders as order_service
from bot.services.context import AppContext
from bot.services.dto import AttachmentInfo, OrderCard
from bot.services.users import user_info
from keyboards.admin import join_request_keyboard
from keyboards.orders import card_keyboard
from storage.models import OrderEvent, OutboxMessage
from storage.uow import UnitOfWork

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
CONCURRENT_CHATS = 8


@dataclass
class Rendered:
    text: str
    markup: InlineKeyboardMarkup | None = None
    files: list[AttachmentInfo] = field(default_factory=list)


@dataclass
class Job:
    row_id: int
    channel: str
    recipient: str
    rendered: Rendered | None
    progress: dict[str, Any]  # what an earlier attempt already delivered: {"parts": n, "message_id": id}


@dataclass
class Outcome:
    status: str  # sent | retry | failed | wait (not tried: an earlier message of the chat must go first)
    delay: timedelta = timedelta(0)
    error: str | None = None
    progress: dict[str, Any] = field(default_factory=dict)


class OutboxSender:
    def __init__(
        self,
        bot: Bot,
        session_factory: async_sessionmaker[AsyncSession],
        ctx: AppContext,
        i18n: I18n,
        *,
        poll_interval: float = 1.0,
        batch: int = 50,
    ) -> None:
        self.bot = bot
        self.session_factory = session_factory
        self.ctx = ctx
        self.i18n = i18n
        self.poll_interval = poll_interval
        self.batch = batch
        self._wake = asyncio.Event()
        self._stopped = False

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()

    async def run(self) -> None:
        while not self._stopped:
            try:
                while await self.drain():
                    pass
            except Exception:  # keep the sender alive whatever one batch did
                log.exception("outbox drain failed")
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_interval)
            except TimeoutError:
                pass
            self._wake.clear()

    async def drain(self) -> int:
        """Deliver one batch of due rows; returns how many were handled."""
        now = self.ctx.clock.now()
        async with UnitOfWork(self.session_factory).reading() as uow:
            rows = await uow.outbox.due(now, self.batch)
            cards: dict[int, tuple[OrderCard, OrderFacts]] = {}
            jobs: list[Job] = []
            for row in rows:
                try:
                    rendered: Rendered | None = await self._render(uow, row, cards)
                except Exception:
                    log.exception("cannot render outbox row %s", row.id)
                    rendered = None
                jobs.append(Job(row.id, row.channel, row.recipient, rendered, dict(row.payload.get("_sent", {}))))
        if not jobs:
            return 0
        outcomes = await self._deliver_all(jobs)
        now = self.ctx.clock.now()
        sent = [job.row_id for job in jobs if outcomes[job.row_id].status == "sent"]
        async with UnitOfWork(self.session_factory) as uow:
            if sent:  # the usual case, in one statement
                await uow.session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id.in_(sent))
                    .values(status="sent", sent_at=now, attempts=OutboxMessage.attempts + 1, last_error=None)
                )
            for job in jobs:
                out = outcomes[job.row_id]
                if out.status in ("sent", "wait"):  # a waiting row was not tried: it keeps its attempts
                    continue
                failed = await uow.session.get(OutboxMessage, job.row_id)
                if failed is None:
                    continue
                failed.attempts += 1
                failed.last_error = out.error
                if out.progress:  # resume after what was delivered
                    failed.payload = {**failed.payload, "_sent": out.progress}
                if out.status == "retry" and failed.attempts < MAX_ATTEMPTS:
                    failed.next_attempt_at = now + out.delay
                else:
                    failed.status = "failed"
            await uow.commit()
        return len(jobs)

    async def _deliver_all(self, jobs: list[Job]) -> dict[int, Outcome]:
        by_chat: dict[str, list[Job]] = defaultdict(list)
        for job in jobs:
            by_chat[job.recipient].append(job)
        limit = asyncio.Semaphore(CONCURRENT_CHATS)
        outcomes: dict[int, Outcome] = {}

        async def serve(chat_jobs: list[Job]) -> None:
            async with limit:
                for i, job in enumerate(chat_jobs):
                    outcomes[job.row_id] = out = await self._deliver(job)
                    if out.status == "retry":  # keep this chat's order: the rest waits for the next round
                        for later in chat_jobs[i + 1 :]:
                            outcomes[later.row_id] = Outcome("wait")
                        return

        await asyncio.gather(*(serve(chat_jobs) for chat_jobs in by_chat.values()))
        return outcomes

    async def _render(
        self, uow: UnitOfWork, row: OutboxMessage, cards: dict[int, tuple[OrderCard, OrderFacts]]
    ) -> Rendered:
        with self.i18n.context(), self.i18n.use_locale(row.locale):
            if row.order_id is None:
                return self._about_people(row)
            viewer: Actor | None = None
            if row.user_id is not None:
                user = await uow.users.get(row.user_id)
                viewer = (await user_info(uow, user)).actor if user else None
            if row.order_id not in cards:
                cards[row.order_id] = await order_service.card_for_notifications(self.ctx, uow, row.order_id)
            base, facts = cards[row.order_id]
            card = order_service.for_viewer(base, facts, viewer)
            event = await uow.session.get(OrderEvent, row.event_id) if row.event_id else None
            actor = await uow.users.get(event.actor_id) if event and event.actor_id else None
            now = self.ctx.clock.now()
            head = render.headline(
                row.kind, actor.full_name if actor else None, event.payload if event else {}, self.ctx.tz
            )
            text = head + "\n\n" + render.card(card, now, self.ctx.tz)
            if len(text) > render.MESSAGE_LIMIT:  # a long comment and a long text: the card without its text
                text = head + "\n\n" + render.card(card, now, self.ctx.tz, full_text=False)
            files: list[AttachmentInfo] = []
            if row.kind == "created":
                files = list(card.attachments)
            elif event is not None and event.payload.get("files"):
                files = await order_service.files_of(uow, row.order_id, event.id)
            # A department chat shows the buttons of the department's head; whoever presses is re-checked.
            markup = card_keyboard(card, card.actions if viewer is not None else card.chat_actions)
            return Rendered(text, markup, files)

    def _about_people(self, row: OutboxMessage) -> Rendered:
        p = row.payload
        if row.kind == "join_request":
            return Rendered(
                render.join_request(p.get("name", ""), p.get("username")), join_request_keyboard(int(p["user_id"]))
            )
        if row.kind == "join_approved":
            name = (p.get("department_en") if row.locale == "en" else None) or p.get("department", "")
            text = _("Your request was approved: you are {role} in «{department}». Send /help to see what you can do.")
            return Rendered(
                text.format(role=render.role_name(Role(p.get("role", "employee"))), department=escape(name))
            )
        if row.kind == "join_rejected":
            return Rendered(_("Your request to join was declined. If this is a mistake, ask your head for an invite."))
        raise ValueError(f"unknown notification kind {row.kind}")

    async def _deliver(self, job: Job) -> Outcome:
        r = job.rendered
        if r is None:
            return Outcome("failed", error="render error")
        if job.channel != "telegram":
            return Outcome("failed", error=f"no sender for channel {job.channel}")
        chat_id = int(job.recipient)
        progress = dict(job.progress)
        done = int(progress.get("parts", 0))
        try:
            if done == 0:
                msg = await self.bot.send_message(chat_id, r.text, reply_markup=r.markup)
                progress = {"parts": 1, "message_id": msg.message_id}
            for i, f in enumerate(r.files, start=1):
                if i < int(progress["parts"]):
                    continue
                reply_to = progress.get("message_id")
                if f.kind == "photo":
                    await self.bot.send_photo(chat_id, f.file_id, reply_to_message_id=reply_to)
                else:
                    await self.bot.send_document(chat_id, f.file_id, reply_to_message_id=reply_to)
                progress["parts"] = i + 1
            return Outcome("sent", progress=progress)
        except TelegramRetryAfter as e:
            return Outcome("retry", timedelta(seconds=e.retry_after), str(e), progress)
        except TelegramForbiddenError as e:
            return Outcome("failed", error=str(e), progress=progress)
        except (TelegramNetworkError, TelegramServerError) as e:
            return Outcome("retry", timedelta(seconds=5), str(e), progress)
        except TelegramBadRequest as e:
            log.error("Telegram refused a notification to %s: %s", chat_id, e)
            return Outcome("failed", error=str(e), progress=progress)
