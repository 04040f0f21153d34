"""More of what people do with orders, end to end: forwarding, declining, comments, sub-orders, races,
stale buttons, bad input, lists and a restart in the middle of a dialog."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from aiogram.utils.i18n import gettext as _

from bot.domain.errors import BadDeadline, NotAllowed, OrderChanged
from bot.domain.states import Action, State
from bot.render import action_label, error_text, state_name
from bot.services.orgimport import import_org
from tests.conftest import BotEnv

GLAVA_HEAD, GLAVA_HEAD2 = 100000001, 100000002
ARCH_HEAD, ARCH_DEPUTY = 100000029, 100000030


async def reply_text(env: BotEnv, user, text: str) -> str:  # type: ignore[no-untyped-def]
    await user.send_text(text)
    await env.idle()
    return env.last(user.id).content


async def test_forward_decline_reforward_comments_and_cancel(bot_env: BotEnv) -> None:
    env = bot_env
    issuer = await env.started(GLAVA_HEAD)
    uk_head = await env.started(env.head_of("UK"))
    roads_head = await env.started(env.head_of("ROADS"))
    blag_head = await env.started(env.head_of("BLAG"))
    order = await env.issue(GLAVA_HEAD, ["UK"], "Проверить жалобу на освещение двора")

    # UK forwards it to ROADS with a reason.
    card = env.card_in(uk_head.id, order.number)
    await uk_head.press(card, env.ru(lambda: action_label(Action.FORWARD)))
    await env.idle()
    await uk_head.press(env.emu.message(uk_head.id, card.message_id), "Отдел транспорта и дорожного хозяйства")
    await env.idle()
    assert await reply_text(env, uk_head, "Это вопрос дорожников")
    assert "Это вопрос дорожников" in env.last(issuer.id).content
    # ROADS declines it.
    card = env.card_in(roads_head.id, order.number)
    await roads_head.press(card, env.ru(lambda: action_label(Action.DECLINE)))
    await env.idle()
    await reply_text(env, roads_head, "Не наша компетенция")
    assert "Не наша компетенция" in env.last(issuer.id).content
    assert env.ru(lambda: state_name(State.DECLINED)) in env.last(issuer.id).content
    # The issuer forwards the declined order to BLAG.
    card = env.card_in(issuer.id, order.number)
    await issuer.press(card, env.ru(lambda: action_label(Action.FORWARD)))
    await env.idle()
    await issuer.press(env.emu.message(issuer.id, card.message_id), "Отдел благоустройства")
    await env.idle()
    await reply_text(env, issuer, "Передаю в благоустройство")
    card = env.card_in(blag_head.id, order.number)
    # Comments go to the other side and back.
    await blag_head.press(card, env.ru(lambda: action_label(Action.COMMENT)))
    await env.idle()
    await reply_text(env, blag_head, "Уточните адрес, пожалуйста")
    assert "Уточните адрес" in env.last(issuer.id).content
    await issuer.press(env.card_in(issuer.id, order.number), env.ru(lambda: action_label(Action.COMMENT)))
    await env.idle()
    await reply_text(env, issuer, "ул. Ленина, 15")
    assert "ул. Ленина, 15" in env.last(blag_head.id).content
    # The issuer cancels; the executor department is told.
    await issuer.press(env.card_in(issuer.id, order.number), env.ru(lambda: action_label(Action.CANCEL)))
    await env.idle()
    await reply_text(env, issuer, "Вопрос решён без нас")
    assert "Вопрос решён без нас" in env.last(blag_head.id).content
    assert env.ru(lambda: state_name(State.CANCELLED)) in env.last(blag_head.id).content


async def test_several_departments_give_parent_and_sub_orders(bot_env: BotEnv) -> None:
    """The first department is responsible (the order itself); each co-executor gets a sub-order."""
    env = bot_env
    await env.started(GLAVA_HEAD)
    roads_head = await env.started(env.head_of("ROADS"))
    blag_head = await env.started(env.head_of("BLAG"))
    parent = await env.issue(GLAVA_HEAD, ["ROADS", "BLAG"], "Подготовить город к празднику")
    assert [c.number for c in parent.children] == [f"{parent.number}/1"]

    # Each department gets exactly one card: ROADS the order, BLAG its part.
    def headers(chat_id: int) -> list[str]:  # the number line of each "new order" card the chat received
        return [m.split("\n")[2] for m in env.texts(chat_id) if m.startswith("📨")]

    assert len(headers(roads_head.id)) == 1 and f"{parent.number} " in headers(roads_head.id)[0]
    assert len(headers(blag_head.id)) == 1 and f"{parent.number}/1 " in headers(blag_head.id)[0]
    child = env.card_in(blag_head.id, f"{parent.number}/1")
    await blag_head.press(child, env.ru(lambda: action_label(Action.ACCEPT)))
    await env.idle()
    await blag_head.press(env.emu.message(blag_head.id, child.message_id), env.ru(lambda: _("Accept, assign later")))
    await env.idle()
    # The parent shows its children's states, to its executor and to the co-executor alike.
    for user in (roads_head, blag_head):
        await user.send_text(f"/order {parent.number}")
        await env.idle()
        text = env.last(user.id).content
        assert f"{parent.number}/1" in text and env.ru(lambda: state_name(State.IN_PROGRESS)) in text
        assert env.ru(lambda: state_name(State.NEW)) in text  # the parent itself is not accepted yet


async def test_two_people_press_at_once_one_wins(bot_env: BotEnv) -> None:
    env = bot_env
    first = await env.started(GLAVA_HEAD)
    second = await env.started(GLAVA_HEAD2)
    order = await env.issue(GLAVA_HEAD, ["ROADS"], "Отчёт о ямочном ремонте")
    worker = env.staff_of("ROADS")[0]
    head = env.head_of("ROADS")
    executor = await env.actor(worker)
    await env.act(head, order.id, Action.ACCEPT, executor_id=executor.user_id)
    await env.act(worker, order.id, Action.REPORT, comment="Готово")
    cards = []
    for user in (first, second):
        await user.send_text(f"/order {order.number}")
        await env.idle()
        cards.append(env.last(user.id))
    close = env.ru(lambda: action_label(Action.CLOSE))
    h1, h2 = await asyncio.gather(first.press(cards[0], close), second.press(cards[1], close))
    await env.idle()
    answers = sorted([h1.answer.text, h2.answer.text])  # type: ignore[union-attr]
    changed = env.ru(lambda: error_text(OrderChanged()))
    assert changed[:40] in answers[0] + answers[1]
    assert sum(1 for a in answers if changed[:40] in a) == 1
    # History has one close, not two.
    await first.press(env.emu.message(first.id, cards[0].message_id), env.ru(lambda: _("📜 History")))
    await env.idle()
    assert env.last(first.id).content.count(env.ru(lambda: _("closed it"))) == 1


async def test_stale_button_in_department_chat_says_changed_and_refreshes(bot_env: BotEnv) -> None:
    env = bot_env
    head = await env.started(ARCH_HEAD)
    deputy = await env.started(ARCH_DEPUTY)
    await env.started(GLAVA_HEAD)
    group = await env.group(-1001000000003, "ARCH", [head, deputy])
    await head.send_text("/bind", chat=group)
    await env.idle()
    order = await env.issue(GLAVA_HEAD, ["ARCH"], "Согласовать размещение киоска")
    chat_card = env.card_in(group.id, order.number)
    # The deputy accepts from the private card; the chat card is now stale.
    await env.act(ARCH_DEPUTY, order.id, Action.ACCEPT)
    handle = await head.press(chat_card, env.ru(lambda: action_label(Action.ACCEPT)))
    await env.idle()
    assert handle.answer is not None
    assert handle.answer.text == env.ru(lambda: error_text(OrderChanged()))
    refreshed = env.emu.message(group.id, chat_card.message_id)
    assert env.ru(lambda: state_name(State.IN_PROGRESS)) in refreshed.content
    # An employee of another department pressing in a chat they are not in is impossible; a non-manager
    # pressing a head's button gets "not allowed".
    employee = await env.started(env.staff_of("ARCH")[0])
    await group.add_member(employee)
    await env.idle()
    refreshed = env.emu.message(group.id, chat_card.message_id)
    labels = [label for label, _d in refreshed.buttons]
    forward = env.ru(lambda: action_label(Action.FORWARD))
    assert forward in labels
    handle = await employee.press(refreshed, forward)
    await env.idle()
    assert handle.answer is not None and handle.answer.text == env.ru(lambda: error_text(NotAllowed()))


async def test_bad_input_gets_clear_answers(bot_env: BotEnv) -> None:
    env = bot_env
    head = await env.started(GLAVA_HEAD, language_code="en")
    await env.draft_to_roads(head)
    await head.send_sticker()
    await env.idle()
    assert "text" in env.last(head.id).content.lower()
    answer = await reply_text(env, head, "x" * 3500)
    assert "3500" in answer and "3000" in answer
    await reply_text(env, head, "Repair the fence near school 5")
    await head.press(env.last(head.id), "Next")
    await env.idle()
    answer = await reply_text(env, head, "31.02 18:00")
    assert answer.startswith(env.en(lambda: error_text(BadDeadline("unparseable"))))
    answer = await reply_text(env, head, "01.01.2020")
    assert answer.startswith(env.en(lambda: error_text(BadDeadline("past"))))
    assert "/bind" in await reply_text(env, head, "/bind")
    worker = await env.started(env.staff_of("ROADS")[0])
    group = await env.group(-1001000000004, "ROADS", [head, worker])
    await worker.send_text("/inbox", chat=group)
    await env.idle()
    assert "private" in env.last(group.id).content.lower() or "личн" in env.last(group.id).content.lower()
    # Someone who may not issue orders is told so.
    answer = await reply_text(env, worker, "/new")
    assert answer


async def test_half_made_order_survives_a_restart(bot_env: BotEnv) -> None:
    env = bot_env
    head = await env.started(GLAVA_HEAD, language_code="en")
    await env.draft_to_roads(head)
    await env.restart()
    await env.say(head, "Check the traffic lights on Mira avenue")
    await env.tap(head, "Next", "In a week", "Normal", "No control")
    summary = env.last(head.id)
    assert "Transport and roads division" in summary.content and "Mira avenue" in summary.content
    await head.press(summary, "Issue")
    await env.idle()
    assert "П-2026-" in env.last(head.id).content


async def test_inbox_overdue_first_filters_and_pages(bot_env: BotEnv) -> None:
    env = bot_env
    await env.started(GLAVA_HEAD)
    roads_head = await env.started(env.head_of("ROADS"))
    late = await env.issue(
        GLAVA_HEAD, ["ROADS"], "Срочно убрать упавшее дерево", due_at=env.clock.now() + timedelta(hours=1)
    )
    for i in range(9):
        await env.issue(
            GLAVA_HEAD, ["ROADS"], f"Плановая проверка № {i}", due_at=env.clock.now() + timedelta(days=3 + i)
        )
    env.clock.advance(timedelta(hours=4))
    await roads_head.send_text("/inbox")
    await env.idle()
    listing = env.last(roads_head.id)
    first_line = listing.content.split("\n")[2]
    assert late.number in first_line and "⚠️" in first_line
    assert "1" in listing.content and "2" in listing.content  # page 1 of 2
    await roads_head.press(listing, "▶️")
    await env.idle()
    page2 = env.emu.message(roads_head.id, listing.message_id)
    assert late.number not in page2.content
    overdue = next(label for label, _d in page2.buttons if env.ru(lambda: _("Overdue")) in label)
    await roads_head.press(page2, overdue)
    await env.idle()
    only = env.emu.message(roads_head.id, listing.message_id)
    assert late.number in only.content and "Плановая" not in only.content


async def test_employee_accepts_where_the_department_allows_it(bot_env: BotEnv, demo: dict) -> None:  # type: ignore[type-arg]
    env = bot_env
    data = {**demo, "departments": [{**d, "employees_can_accept": d["code"] == "ROADS"} for d in demo["departments"]]}
    await import_org(env.uow(), data)
    await env.started(GLAVA_HEAD)
    worker = await env.started(env.staff_of("ROADS")[0])
    outsider = await env.started(env.staff_of("BLAG")[0])
    order = await env.issue(GLAVA_HEAD, ["ROADS"], "Осмотреть мост")
    await worker.send_text(f"/order {order.number}")
    await env.idle()
    card = env.last(worker.id)
    await worker.press(card, env.ru(lambda: action_label(Action.ACCEPT)))
    await env.idle()
    accepted = env.emu.message(worker.id, card.message_id).content
    assert env.ru(lambda: state_name(State.IN_PROGRESS)) in accepted and (worker.last_name or "") in accepted
    # Elsewhere (BLAG does not allow it) an employee has no Accept button on orders of their department.
    other = await env.issue(GLAVA_HEAD, ["BLAG"], "Покрасить скамейки")
    await outsider.send_text(f"/order {other.number}")
    await env.idle()
    labels = [label for label, _d in env.last(outsider.id).buttons]
    assert env.ru(lambda: action_label(Action.ACCEPT)) not in labels


async def test_unexpected_error_gets_an_incident_number_not_silence(bot_env: BotEnv, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    env = bot_env
    head = await env.started(GLAVA_HEAD)

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("database on fire")

    monkeypatch.setattr("bot.services.orders.list_orders", broken)
    await head.send_text("/inbox")
    await env.idle()
    answer = env.last(head.id).content
    assert "RuntimeError" not in answer and "database on fire" not in answer
    expected = env.ru(lambda: _("Something went wrong on our side (incident {incident}). Please try again later."))
    assert answer.startswith(expected.split("{incident}")[0])
