"""The whole lifecycle of an order between two departments, through the emulator, as people would do it."""

from __future__ import annotations

from aiogram.utils.i18n import gettext as _

from bot.domain.states import Action
from bot.render import action_label
from tests.conftest import BotEnv
from tests.emulator import tiny_png

GLAVA_HEAD = 100000001
FIN_EMPLOYEE_CODE = "FIN"


def ru(bot_env: BotEnv, text_fn) -> str:  # type: ignore[no-untyped-def]
    return bot_env.ru(text_fn)


def en(bot_env: BotEnv, text_fn) -> str:  # type: ignore[no-untyped-def]
    return bot_env.en(text_fn)


def find_card(bot_env: BotEnv, chat_id: int, number: str):  # type: ignore[no-untyped-def]
    return bot_env.card_in(chat_id, number)


async def issue_order(bot_env: BotEnv, issuer, text: str) -> str:  # type: ignore[no-untyped-def]
    """Drive the /new dialog as an English-speaking head: ROADS, a photo with `text`, due tomorrow, urgent."""
    await bot_env.draft_to_roads(issuer)
    await issuer.send_photo(tiny_png(), caption=text)
    await bot_env.idle()
    await bot_env.tap(issuer, "Next", "Tomorrow", "Urgent", "No control")
    summary = bot_env.last(issuer.id)
    assert "29 November 2026, 18:00" in summary.content
    await bot_env.tap(issuer, "Issue")
    card = bot_env.last(issuer.id).content
    return str(next(w for w in card.split() if w.startswith("П-2026-")))


async def test_order_lifecycle_between_departments(bot_env: BotEnv) -> None:
    env = bot_env
    issuer = await env.started(GLAVA_HEAD, language_code="en")
    roads_head = await env.started(env.head_of("ROADS"))
    worker = await env.started(env.staff_of("ROADS")[0])
    outsider = await env.started(env.staff_of(FIN_EMPLOYEE_CODE)[0])
    group = await env.group(-1001000000002, "ROADS", [roads_head, worker])
    await roads_head.send_text("/bind", chat=group)
    await env.idle()

    number = await issue_order(env, issuer, "Clear the snow on Lenina st.")
    assert number.startswith("П-2026-")

    # The department chat and its head receive the card (in Russian) and the photo re-sent.
    for chat in (group.id, roads_head.id):
        card = find_card(env, chat, number)
        assert "Clear the snow" in card.content
        assert ru(env, lambda: _("Urgent")) in card.content
        assert "29 ноября 2026" in card.content
        assert any(m.photo for m in env.emu.bot_messages(chat))
    card = find_card(env, roads_head.id, number)
    assert ru(env, lambda: action_label(Action.ACCEPT)) or en(env, lambda: action_label(Action.ACCEPT))

    # Captured for a replay attempt by an outsider later.
    accept_data = next(d for _label, d in card.buttons if d and d.startswith("oa:"))

    # The head accepts and assigns the employee.
    await roads_head.press(card, ru(env, lambda: action_label(Action.ACCEPT)))
    await env.idle()
    picker = env.emu.message(roads_head.id, card.message_id)
    worker_name = next(label for label, _data in picker.buttons if label.startswith(worker.last_name or "?"))
    await roads_head.press(picker, worker_name)
    await env.idle()
    assert "accepted" in env.last(issuer.id).content  # the issuer is told, in English

    # The employee reports with a document.
    card = find_card(env, worker.id, number)
    await worker.press(card, ru(env, lambda: action_label(Action.REPORT)))
    await env.idle()
    await worker.send_document(b"%PDF-1.4 act", file_name="act.pdf", mime_type="application/pdf", caption="Сделано")
    await env.idle()
    await worker.press(env.last(worker.id), ru(env, lambda: _("📨 Submit")))
    await env.idle()
    issuer_msgs = env.emu.bot_messages(issuer.id)
    assert any(m.document and m.document.get("file_name") == "act.pdf" for m in issuer_msgs)

    # The issuer returns it with a comment.
    card = find_card(env, issuer.id, number)
    await issuer.press(card, "Return for rework")
    await env.idle()
    await issuer.send_text("Photos of the bus stops are missing")
    await env.idle()
    assert "Photos of the bus stops are missing" in env.last(worker.id).content

    # The employee reports again; the issuer closes it.
    card = find_card(env, worker.id, number)
    await worker.press(card, ru(env, lambda: action_label(Action.REPORT)))
    await env.idle()
    await worker.send_text("Фото добавлены")
    await env.idle()
    await worker.press(env.last(worker.id), ru(env, lambda: _("📨 Submit")))
    await env.idle()
    card = find_card(env, issuer.id, number)
    await issuer.press(card, "Close")
    await env.idle()
    assert "Done" in env.emu.message(issuer.id, card.message_id).content

    # The history shows every step in order, with actors.
    await issuer.press(env.emu.message(issuer.id, card.message_id), "History")
    await env.idle()
    history = env.last(issuer.id).content
    steps = [
        "issued the order",
        "accepted it",
        "reported completion",
        "returned it for rework",
        "reported completion",
        "closed it",
    ]
    pos = 0
    for step in steps:
        pos = history.index(step, pos) + 1
    assert "Яковлев" in history and (worker.last_name or "") in history

    # Someone from another department can neither find it nor act on it, even replaying a captured button.
    await outsider.send_text("/inbox")
    await env.idle()
    assert number not in env.last(outsider.id).content
    await outsider.send_text(f"/order {number}")
    await env.idle()
    assert ru(env, lambda: _("Not found, or you have no access to it.")) in env.last(outsider.id).content
    captured = next(
        data for label, data in find_card(env, issuer.id, number).buttons if data and data.startswith("ov:")
    )
    own = env.last(outsider.id)
    refusals = []
    for data in (captured, accept_data, "oa:1:close:999", "px:1:accept:1:5", "ls:inbox:x:0::0", "garbage"):
        handle = await outsider.press_data(own, data)
        await env.idle()
        assert handle.answer is not None and handle.answer.text
        refusals.append(handle.answer.text)
    print(refusals)
    # Nothing changed: the order is still done, and the history is as it was.
    await issuer.press(env.emu.message(issuer.id, card.message_id), "History")
    await env.idle()
    assert env.last(issuer.id).content == history
