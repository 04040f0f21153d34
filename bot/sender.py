"""The notification sender: drains the outbox and delivers each row through its channel.

Rows are rendered at delivery time in the recipient's language, with the buttons the recipient may use on
the order's current state. Telegram errors decide the row's fate: 429 reschedules after retry_after,
403 (blocked, never started) marks it failed, network and server errors retry with backoff.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import timedelta

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
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import render
from bot.domain.policy import Actor
from bot.services import orders as order_service
from bot.services.context import AppContext
from bot.services.dto import AttachmentInfo
from bot.services.users import user_info
from keyboards.admin import join_request_keyboard
from keyboards.orders import card_keyboard
from storage.models import OrderEvent, OutboxMessage
from storage.uow import UnitOfWork

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5


@dataclass
class Rendered:
    text: str
    markup: InlineKeyboardMarkup | None = None
    files: list[AttachmentInfo] = field(default_factory=list)


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
        self.uow = UnitOfWork(session_factory)
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
        async with self.uow as uow:
            rows = await uow.outbox.due(now, self.batch)
            jobs: list[tuple[int, str, str, Rendered | None]] = []
            for row in rows:
                try:
                    jobs.append((row.id, row.channel, row.recipient, await self._render(uow, row)))
                except Exception:
                    log.exception("cannot render outbox row %s", row.id)
                    jobs.append((row.id, row.channel, row.recipient, None))
        results = [(job_id, await self._deliver(channel, recipient, r)) for job_id, channel, recipient, r in jobs]
        if results:
            async with self.uow as uow:
                for job_id, (status, delay, error) in results:
                    done = await uow.session.get(OutboxMessage, job_id)
                    if done is None:
                        continue
                    row = done
                    row.attempts += 1
                    row.last_error = error
                    if status == "sent":
                        row.status, row.sent_at = "sent", self.ctx.clock.now()
                    elif status == "retry" and row.attempts < MAX_ATTEMPTS:
                        row.next_attempt_at = self.ctx.clock.now() + delay
                    else:
                        row.status = "failed"
                await uow.commit()
        return len(rows)

    async def _render(self, uow: UnitOfWork, row: OutboxMessage) -> Rendered:
        with self.i18n.context(), self.i18n.use_locale(row.locale):
            if row.kind == "join_request":
                return self._join_request(row)
            if row.kind == "join_approved":
                name = row.payload.get("department_en") if row.locale == "en" else None
                text = _("Your request was approved: you are in {department}. Send /help to see what you can do.")
                return Rendered(text.format(department=render.escape(name or row.payload.get("department", ""))))
            assert row.order_id is not None
            viewer: Actor | None = None
            if row.user_id is not None:
                user = await uow.users.get(row.user_id)
                viewer = (await user_info(uow, user)).actor if user else None
            card = await order_service.card_for_recipient(self.ctx, uow, row.order_id, viewer)
            event = await uow.session.get(OrderEvent, row.event_id) if row.event_id else None
            actor = await uow.users.get(event.actor_id) if event and event.actor_id else None
            now = self.ctx.clock.now()
            text = render.headline(
                row.kind, actor.full_name if actor else None, event.payload if event else {}, self.ctx.tz
            )
            text += "\n\n" + render.card(card, now, self.ctx.tz)
            if len(text) > render.MESSAGE_LIMIT:
                text = text[: render.MESSAGE_LIMIT - 1] + "…"
            files: list[AttachmentInfo] = []
            if row.kind == "created":
                files = list(card.attachments)
            elif event is not None and event.payload.get("files"):
                files = await order_service.files_of(uow, row.order_id, event.id)
            # A department chat shows the buttons of the department's head; whoever presses is re-checked.
            markup = card_keyboard(card, card.actions if viewer is not None else card.chat_actions)
            return Rendered(text, markup, files)

    def _join_request(self, row: OutboxMessage) -> Rendered:
        p = row.payload
        who = render.escape(p.get("name", ""))
        if p.get("username"):
            who += " (@{})".format(render.escape(p["username"]))
        text = _("🙋 {who} asks to join. Choose a department to approve, or reject.").format(who=who)
        return Rendered(text, join_request_keyboard(int(p["user_id"])))

    async def _deliver(self, channel: str, recipient: str, r: Rendered | None) -> tuple[str, timedelta, str | None]:
        if r is None:
            return "failed", timedelta(0), "render error"
        if channel != "telegram":
            return "failed", timedelta(0), f"no sender for channel {channel}"
        chat_id = int(recipient)
        try:
            msg = await self.bot.send_message(chat_id, r.text, reply_markup=r.markup)
            for f in r.files:
                if f.kind == "photo":
                    await self.bot.send_photo(chat_id, f.file_id, reply_to_message_id=msg.message_id)
                else:
                    await self.bot.send_document(chat_id, f.file_id, reply_to_message_id=msg.message_id)
            return "sent", timedelta(0), None
        except TelegramRetryAfter as e:
            return "retry", timedelta(seconds=e.retry_after), str(e)
        except TelegramForbiddenError as e:
            return "failed", timedelta(0), str(e)
        except (TelegramNetworkError, TelegramServerError) as e:
            return "retry", timedelta(seconds=5), str(e)
        except TelegramBadRequest as e:
            log.error("Telegram refused a notification to %s: %s", chat_id, e)
            return "failed", timedelta(0), str(e)
