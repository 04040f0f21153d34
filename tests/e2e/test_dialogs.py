"""Dialogs that collect a reason, a comment or a report: what people do in the middle of them."""

from __future__ import annotations

from aiogram.utils.i18n import gettext as _

from bot.domain.states import Action, State
from bot.render import action_label, state_name
from tests.conftest import BotEnv

GLAVA_HEAD = 100000001


async def test_commands_and_menu_are_not_taken_as_a_reason(bot_env: BotEnv) -> None:
    env = bot_env
    await env.started(GLAVA_HEAD)
    head = await env.started(env.head_of("ROADS"))
    order = await env.issue(GLAVA_HEAD, ["ROADS"], "Проверить знаки")
    await head.press(env.card_in(head.id, order.number), env.ru(lambda: action_label(Action.DECLINE)))
    await env.idle()
    await head.send_text("/inbox")
    await env.idle()
    assert order.number in env.last(head.id).content  # the list, still new: not declined with reason "/inbox"
    await head.send_text(env.ru(lambda: _("📥 Inbox")))
    await env.idle()
    await head.send_text("Не наш профиль")
    await env.idle()
    card = await env.act(head.id, order.id, Action.COMMENT, comment="проверка")
    assert card.state == State.DECLINED
    # The history has the decline with the typed reason, and no command as a reason.
    async with env.uow() as uow:
        events = [(e.type, e.payload.get("comment")) for e in await uow.events.history(order.id)]
    assert ("decline", "Не наш профиль") in events
    assert not [c for _t, c in events if c and c.startswith(("/", "📥"))]


async def test_a_colleagues_comment_does_not_spoil_a_report_being_typed(bot_env: BotEnv) -> None:
    env = bot_env
    issuer = await env.started(GLAVA_HEAD)
    head = await env.started(env.head_of("ROADS"))
    worker = await env.started(env.staff_of("ROADS")[0])
    order = await env.issue(GLAVA_HEAD, ["ROADS"], "Отремонтировать светофор")
    await env.act(head.id, order.id, Action.ACCEPT, executor_id=(await env.actor(worker.id)).user_id)
    await worker.press(env.card_in(worker.id, order.number), env.ru(lambda: action_label(Action.REPORT)))
    await env.idle()
    await worker.send_document(b"%PDF-1.4", file_name="act.pdf", mime_type="application/pdf", caption="Готово")
    await env.idle()
    await env.act(GLAVA_HEAD, order.id, Action.COMMENT, comment="Как продвигается?")  # bumps the version
    submit = env.ru(lambda: _("📨 Submit"))
    await worker.press(env.with_button(worker.id, submit), submit)
    await env.idle()
    assert env.ru(lambda: state_name(State.ON_REVIEW)) in env.last(worker.id).content
    assert any("Готово" in t for t in env.texts(issuer.id))
    assert env.last(issuer.id).document is not None  # the act, re-sent after the report


async def test_refusal_after_submit_reaches_the_user(bot_env: BotEnv) -> None:
    env = bot_env
    await env.started(GLAVA_HEAD)
    head = await env.started(env.head_of("ROADS"))
    worker = await env.started(env.staff_of("ROADS")[0])
    order = await env.issue(GLAVA_HEAD, ["ROADS"], "Покрасить бордюры")
    await env.act(head.id, order.id, Action.ACCEPT, executor_id=(await env.actor(worker.id)).user_id)
    await worker.press(env.card_in(worker.id, order.number), env.ru(lambda: action_label(Action.REPORT)))
    await env.idle()
    await worker.send_text("Покрашено")
    await env.idle()
    await env.act(GLAVA_HEAD, order.id, Action.CANCEL)  # meanwhile the issuer cancels the order
    submit = env.ru(lambda: _("📨 Submit"))
    handle = await worker.press(env.with_button(worker.id, submit), submit)
    await env.idle()
    assert handle.answer is not None
    assert handle.answer.text == env.ru(lambda: _("The order has changed meanwhile. Here is its current state."))


async def test_answering_a_colleague_keeps_the_half_made_order(bot_env: BotEnv) -> None:
    env = bot_env
    issuer = await env.started(GLAVA_HEAD, language_code="en")
    await env.started(env.head_of("ROADS"))
    order = await env.issue(env.head_of("ROADS"), ["GLAVA"], "Согласуйте схему движения")
    await env.draft_to_roads(issuer)
    # In the middle of the draft, a comment on another order.
    await issuer.send_text(f"/order {order.number}")
    await env.idle()
    await issuer.press(env.last(issuer.id), env.en(lambda: action_label(Action.COMMENT)))
    await env.idle()
    await issuer.send_text("Согласовано")
    await env.idle()
    assert "Comment on" in env.last(issuer.id).content
    # The draft is where it was: the text step.
    await issuer.send_text("Install new road signs near school 7")
    await env.idle()
    await issuer.press(env.last(issuer.id), "Next")
    await env.idle()
    assert "Deadline" in env.last(issuer.id).content


async def test_find_pages_each_search_separately(bot_env: BotEnv) -> None:
    env = bot_env
    head = await env.started(GLAVA_HEAD)
    for i in range(10):
        await env.issue(GLAVA_HEAD, ["ROADS"], f"Снег на улице № {i}")
    for i in range(3):
        await env.issue(GLAVA_HEAD, ["BLAG"], f"Клумбы в парке № {i}")
    await head.send_text("/find снег")
    await env.idle()
    snow = env.last(head.id)
    await head.send_text("/find клумбы")
    await env.idle()
    await head.press(snow, "▶️")  # the first list keeps its own query
    await env.idle()
    page2 = env.emu.message(head.id, snow.message_id).content
    assert "Снег на улице" in page2 and "Клумбы" not in page2


async def test_extension_request_goes_to_the_approver_and_moves_the_deadline(bot_env: BotEnv) -> None:
    env = bot_env
    issuer = await env.started(GLAVA_HEAD)
    head = await env.started(env.head_of("ROADS"))
    order = await env.issue(GLAVA_HEAD, ["ROADS"], "Подготовить схему объезда")
    await env.act(head.id, order.id, Action.ACCEPT)
    await env.say(head, f"/order {order.number}")  # the current card (the first one is stale after accepting)
    await head.press(env.last(head.id), env.ru(lambda: action_label(Action.REQUEST_EXTENSION)))
    await env.idle()
    assert "25.12" in await env.say(head, "31.02")  # an impossible date: asked again, with an example
    await env.say(head, "10.12 18:00")
    await env.say(head, "Ждём согласования ГИБДД")
    request = env.card_in(issuer.id, order.number)
    assert "Ждём согласования ГИБДД" in request.content and "10 декабря 2026" in request.content
    grant = env.ru(lambda: action_label(Action.GRANT_EXTENSION))
    await issuer.press(request, grant)
    await env.idle()
    card = await env.act(GLAVA_HEAD, order.id, Action.COMMENT, comment="Срок продлён")
    assert card.due_at is not None and card.due_at.astimezone(env.app.ctx.tz).strftime("%d.%m %H:%M") == "10.12 18:00"
    assert card.extension_due_at is None
    assert "10 декабря 2026" in env.last(head.id).content


async def test_a_forwarded_message_becomes_the_order_text(bot_env: BotEnv) -> None:
    env = bot_env
    head = await env.started(GLAVA_HEAD, language_code="en")
    await env.draft_to_roads(head)
    await head.forward_message("Жители ул. Мира жалуются на яму у дома 7", from_name="Приёмная")
    await env.idle()
    await env.tap(head, "Next", "In a week", "Normal", "No control")
    assert "Жители ул. Мира жалуются на яму у дома 7" in env.last(head.id).content
