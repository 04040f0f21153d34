"""End to end through the emulator: joining, the menu, help, language, strangers and wrong chats."""

from __future__ import annotations

from aiogram.utils.i18n import gettext as _

from tests.conftest import BotEnv

GLAVA_HEAD = 100000001
ADMIN = 100000077


async def test_known_employee_gets_welcome_and_menu(bot_env: BotEnv) -> None:
    head = await bot_env.started(GLAVA_HEAD)
    text = bot_env.last(head.id).content
    assert "Яковлев" in text and "Глава городского округа" in text
    keyboard = bot_env.emu.reply_keyboard(head.id)
    assert keyboard is not None
    labels = [b["text"] for row in keyboard["keyboard"] for b in row]
    assert "➕ Новое поручение" in labels and "📥 Входящие" in labels


async def test_commands_menu_is_set_per_scope_and_language(bot_env: BotEnv) -> None:
    private_ru = bot_env.emu.get_commands("all_private_chats", "")
    private_en = bot_env.emu.get_commands("all_private_chats", "en")
    groups = bot_env.emu.get_commands("all_group_chats", "")
    assert private_ru and private_en and groups
    assert {"new", "inbox", "outbox", "help"} <= {c["command"] for c in private_ru}
    assert "bind" in {c["command"] for c in groups}
    assert private_ru[0]["description"] != private_en[0]["description"]


async def test_stranger_is_told_politely_and_admin_can_approve(bot_env: BotEnv) -> None:
    admin = await bot_env.started(ADMIN)
    stranger = bot_env.emu.user(555000111, first_name="Pavel", language_code="en")
    await stranger.send_text("hello")
    await bot_env.idle()
    assert "invite link" in bot_env.last(stranger.id).content
    await stranger.send_text("/start")
    await bot_env.idle()
    assert "request" in bot_env.last(stranger.id).content
    # The admin got the join request with buttons; approve into ROADS as an employee.
    request = bot_env.last(admin.id)
    assert "Pavel" in request.content
    await admin.press(request, "Одобрить")
    await bot_env.idle()
    request = bot_env.emu.message(admin.id, request.message_id)
    await admin.press(request, "Отдел транспорта и дорожного хозяйства")
    await bot_env.idle()
    request = bot_env.emu.message(admin.id, request.message_id)
    await admin.press(request, "сотрудник")
    await bot_env.idle()
    assert "approved" in bot_env.last(stranger.id).content
    await stranger.send_text("/inbox")
    await bot_env.idle()
    assert "Inbox" in bot_env.last(stranger.id).content


def uses_label(env: BotEnv, n: int) -> str:
    return env.ru(lambda: _("{count} person", "{count} people", n).format(count=n))


async def invite_link(env: BotEnv, head, role_label: str, uses: int) -> str:  # type: ignore[no-untyped-def]
    await head.send_text("/invite")
    await env.idle()
    await head.press(env.last(head.id), role_label)
    await env.idle()
    await head.press(env.last(head.id), uses_label(env, uses))
    await env.idle()
    text = env.last(head.id).content
    return next(w for w in text.split() if w.startswith("https://t.me/munorders_bot?start=")).split("=", 1)[1]


async def test_multi_use_invite_and_revocation(bot_env: BotEnv) -> None:
    env = bot_env
    head = await env.started(env.head_of("ROADS"))
    token = await invite_link(env, head, "сотрудник", 10)
    for uid in (555000401, 555000402):
        newcomer = env.emu.user(uid, first_name="Гость", language_code="ru")
        await newcomer.send_text(f"/start {token}")
        await env.idle()
        assert "Отдел транспорта" in env.last(uid).content
    await head.send_text("/invites")
    await env.idle()
    listing = env.last(head.id)
    revoke = next(
        label
        for label, _d in listing.buttons
        if label.startswith(env.ru(lambda: _("Revoke: {department}, {role}"))[:5])
    )
    await head.press(listing, revoke)
    await env.idle()
    late = env.emu.user(555000403, first_name="Опоздавший", language_code="ru")
    await late.send_text(f"/start {token}")
    await env.idle()
    assert env.ru(lambda: _("This invite link was revoked.")) in env.last(late.id).content
    # An employee may not create invites at all.
    worker = await env.started(env.staff_of("ROADS")[0])
    await worker.send_text("/invite")
    await env.idle()
    assert env.last(worker.id).content == env.ru(lambda: _("You are not allowed to do this."))


async def test_invite_link_flow(bot_env: BotEnv) -> None:
    roads_head = await bot_env.started(bot_env.head_of("ROADS"))
    await roads_head.send_text("/invite")
    await bot_env.idle()
    await roads_head.press(bot_env.last(roads_head.id), "сотрудник")
    await bot_env.idle()
    await roads_head.press(
        bot_env.last(roads_head.id), bot_env.ru(lambda: _("{count} person", "{count} people", 1).format(count=1))
    )
    await bot_env.idle()
    text = bot_env.last(roads_head.id).content
    link = next(w for w in text.split() if w.startswith("https://t.me/munorders_bot?start="))
    token = link.split("=", 1)[1]
    newcomer = bot_env.emu.user(555000222, first_name="Olga", last_name="New", language_code="ru")
    await newcomer.send_text(f"/start {token}")
    await bot_env.idle()
    assert "Отдел транспорта" in bot_env.last(newcomer.id).content
    # Single use: a second person cannot reuse it.
    other = bot_env.emu.user(555000333, first_name="Ivan", language_code="ru")
    await other.send_text(f"/start {token}")
    await bot_env.idle()
    assert "уже использована" in bot_env.last(other.id).content


async def test_help_has_two_screens_and_language_switch(bot_env: BotEnv) -> None:
    head = await bot_env.started(GLAVA_HEAD)
    await head.send_text("/help")
    await bot_env.idle()
    first = bot_env.last(head.id)
    assert "1/2" in first.content
    await head.press(first, "Далее »")
    await bot_env.idle()
    assert "2/2" in bot_env.emu.message(head.id, first.message_id).content
    await head.send_text("/lang")
    await bot_env.idle()
    await head.press(bot_env.last(head.id), "English")
    await bot_env.idle()
    assert bot_env.last(head.id).content == "Language changed."
    await head.send_text("/inbox")
    await bot_env.idle()
    assert "Inbox" in bot_env.last(head.id).content


async def test_bind_group_chat_by_head_only(bot_env: BotEnv) -> None:
    head = await bot_env.started(bot_env.head_of("ROADS"))
    employee = await bot_env.started(bot_env.staff_of("ROADS")[0])
    group = await bot_env.group(-1001000000001, "ROADS chat", [head, employee])
    await employee.send_text("/bind@munorders_bot", chat=group)
    await bot_env.idle()
    assert "не разрешено" in bot_env.last(group.id).content.lower() or "нельзя" in bot_env.last(group.id).content
    await head.send_text("/bind@munorders_bot", chat=group)
    await bot_env.idle()
    assert "Отдел транспорта" in bot_env.last(group.id).content
    # Plain chatter in the group is not delivered to the bot (privacy mode) and gets no answer.
    before = len(bot_env.emu.bot_messages(group.id))
    await employee.send_text("good morning everyone", chat=group)
    await bot_env.idle()
    assert len(bot_env.emu.bot_messages(group.id)) == before
