"""The /new dialog end to end through the emulator: tree navigation, several departments, text in parts with a
file, a bad then a good typed deadline, control, editing from the summary, issue; and the refusals on the way.

Labels are looked up through the catalogs (the users speak Russian), so the tests follow the translation."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import UTC, datetime

from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext

from bot.i18n import fmt_datetime
from bot.services.orders import TEXT_MAX
from keyboards.new_order import DeptNav, DeptToggle
from tests.conftest import BotEnv
from tests.emulator import SimUser, tiny_png

GLAVA_HEAD = 100000001
GLAVA_EMPLOYEE = 100000003
CONTROLLER = 100000009


UNSUPPORTED = (
    "I can take text, photos and documents (files) for an order. Voice messages, videos, stickers, "
    "locations and the like cannot be attached: send a file or describe it in words."
)


async def send_location(env: BotEnv, user: SimUser) -> None:
    """The emulator has no helper for locations: build the update the way its own helpers do."""
    raw = env.emu._new_message(user.id, user.to_dict())
    raw["location"] = {"latitude": 55.75, "longitude": 37.62}
    env.emu._store(user.id, raw, from_bot=False, from_user_id=user.id)
    env.emu._queue_update("message", raw)


async def replied(env: BotEnv, user: SimUser, before: int, count: int = 1) -> None:
    """Wait for the bot's answer to `count` messages: idle alone may return while the bot is still busy with a
    message (no request for a moment), so wait until the new answers are there, then for idle."""
    for _i in range(1000):
        if len(env.emu.bot_messages(user.id)) >= before + count:
            break
        await asyncio.sleep(0.01)
    await env.idle()


async def say(env: BotEnv, user: SimUser, text: str) -> None:
    before = len(env.emu.bot_messages(user.id))
    await user.send_text(text)
    await replied(env, user, before)


def ru(env: BotEnv, text_fn: Callable[[], str]) -> str:
    with env.app.i18n.context(), env.app.i18n.use_locale("ru"):
        return text_fn()


async def test_issue_to_two_departments_with_edits(bot_env: BotEnv) -> None:
    env = bot_env
    await env.started(CONTROLLER)
    head = await env.started(GLAVA_HEAD)

    before = len(env.emu.bot_messages(head.id))
    await head.tap_reply_button(ru(env, lambda: str(_("➕ New order"))))
    await replied(env, head, before)
    dialog = env.last(head.id)
    assert "Глава городского округа" in dialog.content
    # Down into the housing directorate, choose two of its divisions, up again, done.
    zhkh = next(DeptToggle.unpack(d).d for label, d in dialog.buttons if "жилищно-коммунального" in label)
    await head.press_data(dialog, DeptNav(d=zhkh).pack())
    await env.idle()
    await head.press(dialog, "Отдел благоустройства")
    await env.idle()
    await head.press(dialog, "Отдел транспорта и дорожного хозяйства")
    await env.idle()
    dialog = env.emu.message(head.id, dialog.message_id)
    assert ru(env, lambda: _("Selected: {departments}").format(departments="")) in dialog.content
    await head.press(dialog, ru(env, lambda: _("« Up")))
    await env.idle()
    await head.press(dialog, ru(env, lambda: _("✅ Done ({count})").format(count=2)))
    await env.idle()

    # The text in two parts and a document; then a deadline typed wrong, then right.
    await say(env, head, "Подготовить план уборки снега\nНа зиму 2026/27, с графиком & ответственными")
    # An album: two files arrive at once; both are kept.
    before = len(env.emu.bot_messages(head.id))
    await head.send_document(b"%PDF-1.4 plan", file_name="plan.pdf", mime_type="application/pdf", caption="Черновик")
    await head.send_photo(tiny_png())
    await replied(env, head, before, 2)
    await head.press(env.last(head.id), ru(env, lambda: _("Next ▶️")))
    await env.idle()
    await say(env, head, "31.02")
    assert (
        ru(env, lambda: _("I could not read that date. Write it like 25.12 18:00 or 25.12.2026."))
        in env.last(head.id).content
    )
    await say(env, head, "10.12 12:00")
    await head.press(env.last(head.id), "🟠")
    await env.idle()
    await head.press(env.last(head.id), "Семёнов")
    await env.idle()

    summary = env.last(head.id)
    due = datetime(2026, 12, 10, 9, 0, tzinfo=UTC)
    assert ru(env, lambda: fmt_datetime(due, env.app.ctx.tz)) in summary.content
    assert "Подготовить план уборки снега" in summary.content
    assert "с графиком & ответственными" in summary.content  # escaped (the strict emulator refuses a bare &)
    assert "Семёнов" in summary.content
    files = ru(
        env,
        lambda: _("Attachments: {files}").format(files=ngettext("{count} file", "{count} files", 2).format(count=2)),
    )
    assert files in summary.content
    assert "Отдел благоустройства" in summary.content and "Отдел транспорта" in summary.content

    # Edit the priority from the summary: it comes back to the summary.
    await head.press(summary, ru(env, lambda: _("✏️ Priority")))
    await env.idle()
    await head.press(env.last(head.id), "🔴")
    await env.idle()
    summary = env.last(head.id)
    assert ru(env, lambda: _("Urgent")) in summary.content

    await head.press(summary, ru(env, lambda: _("📨 Issue")))
    await env.idle()
    card = env.last(head.id).content
    # BLAG was chosen first: it is the responsible executor of the order itself; ROADS, the co-executor, gets the
    # single sub-order /1. (The text's "2026/27" must not be mistaken for a sub-order number.)
    found = re.search(r"П-2026-\d{6}", card)
    assert found is not None
    number = found.group(0)
    lines = card.splitlines()
    executor = ru(env, lambda: _("Executor: {executor}").format(executor="Отдел благоустройства"))
    assert any(line.startswith(executor) for line in lines)
    subs = [line for line in lines if f"{number}/" in line]
    assert len(subs) == 1 and f"{number}/1 " in subs[0] and "Отдел транспорта" in subs[0]
    assert f"{number}/2" not in card
    assert "Семёнов" in card
    # The draft is gone: the old summary's buttons are answered, not left spinning.
    handle = await head.press_data(summary, "na:issue")
    await env.idle()
    assert handle.answer is not None and handle.answer.show_alert
    assert len([m for m in env.emu.bot_messages(head.id) if "П-2026-" in m.content and "/1" in m.content]) == 1


async def test_refusals_along_the_way(bot_env: BotEnv) -> None:
    env = bot_env
    employee = await env.started(GLAVA_EMPLOYEE)
    await say(env, employee, "/new")
    assert ru(env, lambda: _("Only heads of departments, their deputies and administrators can issue orders.")) in (
        env.last(employee.id).content
    )

    head = await env.started(GLAVA_HEAD)
    await say(env, head, "/new")
    dialog = env.last(head.id)
    # A forged department id is refused with an answer.
    handle = await head.press_data(dialog, DeptToggle(d=999999).pack())
    await env.idle()
    assert handle.answer is not None and handle.answer.text
    # Search by code, choose, done.
    await say(env, head, "roads")
    await head.press(env.last(head.id), "Отдел транспорта и дорожного хозяйства")
    await env.idle()
    await head.press(env.last(head.id), ru(env, lambda: _("✅ Done ({count})").format(count=1)))
    await env.idle()

    # Nothing collected yet: no Next button; Cancel discards the draft.
    assert ru(env, lambda: _("Next ▶️")) not in [label for label, _data in env.last(head.id).buttons]
    handle = await head.press(env.last(head.id), ru(env, lambda: _("✖️ Cancel")))
    await env.idle()
    assert handle.answer is not None
    assert ru(env, lambda: _("The draft order is discarded.")) in env.last(head.id).content

    await say(env, head, "/new")
    await say(env, head, "дорож")
    await head.press(env.last(head.id), "Отдел транспорта и дорожного хозяйства")
    await env.idle()
    await head.press(env.last(head.id), ru(env, lambda: _("✅ Done ({count})").format(count=1)))
    await env.idle()
    await say(env, head, "x" * (TEXT_MAX + 1))
    assert str(TEXT_MAX + 1) in env.last(head.id).content and str(TEXT_MAX) in env.last(head.id).content
    before = len(env.emu.bot_messages(head.id))
    await send_location(env, head)
    await replied(env, head, before)
    assert ru(env, lambda: _(UNSUPPORTED)) in env.last(head.id).content

    # /new again in the middle of the dialog shows the unfinished draft instead of losing it.
    await say(env, head, "/new")
    assert ru(env, lambda: _("You have an unfinished order, here it is. Press Cancel to discard it.")) in (
        env.last(head.id).content
    )
    await say(env, head, "Проверить освещение")
    await head.press(env.last(head.id), ru(env, lambda: _("Next ▶️")))
    await env.idle()
    # A moment in the past is refused; a quick button works.
    await say(env, head, "27.11.2026 10:00")
    assert ru(env, lambda: _("That moment has already passed. Please give a deadline in the future.")) in (
        env.last(head.id).content
    )
    await head.press(env.last(head.id), ru(env, lambda: _("In a week")))
    await env.idle()
    assert ru(env, lambda: _("How urgent is it?")) in env.last(head.id).content
