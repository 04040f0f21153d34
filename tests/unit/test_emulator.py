"""Tests of the Telegram Bot API emulator with a real aiogram Bot + Dispatcher (long polling and webhook)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.filters import Command, CommandStart
from aiogram.methods import TelegramMethod
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllPrivateChats,
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from aiohttp import web

from tests.emulator import EmulatorError, SimUser, TelegramEmulator, tiny_png
from tests.emulator.fixtures import emulator as emulator_fixture  # noqa: F401  (registers "emulator")

GROUP_ID = -1001234567890


def build_router() -> Router:
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message) -> None:
        kb = InlineKeyboardMarkup(
            inline_keyboard=[
                [InlineKeyboardButton(text="Accept", callback_data="acc:1")],
                [InlineKeyboardButton(text="Silent", callback_data="silent")],
                [InlineKeyboardButton(text="Site", url="https://example.org")],
            ]
        )
        await message.answer(
            f"Hello, <b>{message.from_user.first_name if message.from_user else ''}</b>!", reply_markup=kb
        )

    @router.message(Command("bind"))
    async def bind(message: Message) -> None:
        await message.answer(f"bound {message.chat.id}")

    @router.message(Command("menu"))
    async def menu(message: Message) -> None:
        kb = ReplyKeyboardMarkup(keyboard=[[KeyboardButton(text="Orders")]], resize_keyboard=True)
        await message.answer("menu", reply_markup=kb)

    @router.message(F.photo)
    async def photo(message: Message, bot: Bot) -> None:
        assert message.photo
        data = await bot.download(message.photo[-1].file_id)
        assert data is not None
        size = len(data.read())
        await message.answer_photo(message.photo[-1].file_id, caption=f"got {size} bytes")

    @router.message(F.text == "Orders")
    async def orders(message: Message) -> None:
        await message.answer("no orders", reply_markup=ReplyKeyboardRemove())

    @router.message(F.text)
    async def echo(message: Message) -> None:
        await message.answer(f"echo: {message.text}")

    @router.callback_query(F.data.startswith("acc:"))
    async def accept(query: CallbackQuery) -> None:
        assert isinstance(query.message, Message)
        await query.message.edit_text("Accepted")
        await query.answer("done")

    return router


@dataclass
class Env:
    emu: TelegramEmulator
    bot: Bot
    user: SimUser


@pytest_asyncio.fixture
async def emu() -> AsyncIterator[TelegramEmulator]:
    instance = TelegramEmulator(token="123456:TEST", bot_username="munorders_bot", bot_id=123456)
    await instance.start()
    yield instance
    await instance.stop()


@pytest_asyncio.fixture
async def bot(emu: TelegramEmulator) -> AsyncIterator[Bot]:
    instance = Bot(emu.token, session=emu.make_session(), default=DefaultBotProperties(parse_mode="HTML"))
    yield instance
    await instance.session.close()


@pytest_asyncio.fixture
async def env(emu: TelegramEmulator) -> AsyncIterator[Env]:
    """Emulator + bot polling with build_router(); asserts no failures unless the test took them."""
    bot = Bot(emu.token, session=emu.make_session(), default=DefaultBotProperties(parse_mode="HTML"))
    dp = Dispatcher()
    dp.include_router(build_router())
    task = asyncio.create_task(dp.start_polling(bot, handle_signals=False, polling_timeout=2))
    user = emu.user(100000001, first_name="Ivan", last_name="Petrov")
    yield Env(emu, bot, user)
    await dp.stop_polling()
    await asyncio.wait_for(task, 5)
    emu.assert_no_failures()


# ---------------------------------------------------------------------------------------------------------------
# Roundtrips through a polling bot
# ---------------------------------------------------------------------------------------------------------------


async def test_echo_roundtrip(env: Env) -> None:
    sent = await env.user.send_text("hello")
    assert isinstance(sent, Message)
    await env.emu.wait_idle()
    reply = env.emu.last_bot_message(env.user.id)
    assert reply is not None and reply.text == "echo: hello"
    assert reply.raw["from"]["is_bot"] is True
    assert [m.content for m in env.emu.messages(env.user.id)] == ["hello", "echo: hello"]
    assert any(c.method == "sendMessage" and c.ok for c in env.emu.requests)


async def test_start_command_buttons_and_callback(env: Env) -> None:
    await env.user.send_text("/start abc")
    await env.emu.wait_idle()
    msg = env.emu.last_bot_message(env.user.id)
    assert msg is not None
    assert msg.text == "Hello, Ivan!"
    assert msg.entities[0]["type"] == "bold"
    assert env.emu.buttons(msg) == [("Accept", "acc:1"), ("Silent", "silent"), ("Site", "https://example.org")]
    query = await env.user.press(msg, "Acc")  # unique substring
    await env.emu.wait_idle()
    assert query.answer is not None and query.answer.text == "done"
    edited = env.emu.last_bot_message(env.user.id)
    assert edited is not None and edited.text == "Accepted" and edited.edited
    assert edited.reply_markup is None  # editMessageText without reply_markup drops the keyboard
    with pytest.raises(EmulatorError):
        await env.user.press(msg, "Nope")


async def test_unanswered_callback_is_a_failure(env: Env) -> None:
    await env.user.send_text("/start")
    await env.emu.wait_idle()
    msg = env.emu.last_bot_message(env.user.id)
    assert msg is not None
    env.emu.callback_answer_timeout = 0.5
    query = await env.user.press(msg, "Silent")
    await env.emu.wait_idle()
    assert not query.answered
    failures = env.emu.take_failures()
    assert len(failures) == 1 and "never answered" in failures[0]


async def test_forged_callback_data(env: Env) -> None:
    await env.user.send_text("/start")
    await env.emu.wait_idle()
    msg = env.emu.last_bot_message(env.user.id)
    assert msg is not None
    query = await env.user.press_data(msg, "acc:999")
    await env.emu.wait_idle()
    assert query.data == "acc:999" and query.answered


async def test_group_privacy_mode(env: Env) -> None:
    other = env.emu.user(100000002, first_name="Olga")
    group = env.emu.group(GROUP_ID, title="ROADS", members=[env.user, other])
    await env.user.send_text("plain chatter", chat=group)
    await env.user.send_text("/bind@other_bot", chat=group)
    await env.emu.wait_idle()
    assert env.emu.bot_messages(GROUP_ID) == []
    assert len(env.emu.messages(GROUP_ID)) == 2  # stored, but not delivered

    cmd = await env.user.send_text("/bind@munorders_bot", chat=group)
    assert cmd.entities and cmd.entities[0].type == "bot_command" and cmd.entities[0].length == 19
    await env.emu.wait_idle()
    bound = env.emu.last_bot_message(GROUP_ID)
    assert bound is not None and bound.text == f"bound {GROUP_ID}"

    await other.reply_to(bound, "thanks")
    await other.send_text("hey @munorders_bot look", chat=group)
    await env.emu.wait_idle()
    assert [m.text for m in env.emu.bot_messages(GROUP_ID)] == [
        f"bound {GROUP_ID}",
        "echo: thanks",
        "echo: hey @munorders_bot look",
    ]


async def test_group_admin_bot_sees_everything(env: Env) -> None:
    group = env.emu.group(GROUP_ID, title="ROADS", members=[env.user], bot_is_admin=True)
    await env.user.send_text("plain chatter", chat=group)
    await env.emu.wait_idle()
    last = env.emu.last_bot_message(GROUP_ID)
    assert last is not None and last.text == "echo: plain chatter"


async def test_photo_upload_download_and_resend(env: Env) -> None:
    png = tiny_png(1000, 500)
    sent = await env.user.send_photo(png, caption="look")
    assert sent.photo and sent.photo[-1].width == 1000
    await env.emu.wait_idle()
    reply = env.emu.last_bot_message(env.user.id)
    assert reply is not None and reply.caption == f"got {len(png)} bytes"
    assert reply.photo is not None
    assert env.emu.file_bytes(reply.photo[-1]["file_id"]) == png
    assert any(c.method == "getFile" for c in env.emu.requests)


async def test_reply_keyboard_tracking(env: Env) -> None:
    await env.user.send_text("/menu")
    await env.emu.wait_idle()
    keyboard = env.emu.reply_keyboard(env.user.id)
    assert keyboard is not None and keyboard["keyboard"][0][0]["text"] == "Orders"
    await env.user.tap_reply_button("Orders")
    await env.emu.wait_idle()
    assert env.emu.reply_keyboard(env.user.id) is None


# ---------------------------------------------------------------------------------------------------------------
# Refusals (direct bot calls, no polling)
# ---------------------------------------------------------------------------------------------------------------


async def _started_user(emu: TelegramEmulator) -> SimUser:
    user = emu.user(100000001, first_name="Ivan")
    await user.send_text("hi")
    return user


SEND_MESSAGE_CASES: list[tuple[dict[str, Any], str | None]] = [
    ({"text": "x" * 4097}, "message is too long"),
    ({"text": "<b>" + "x" * 4096 + "</b>"}, None),  # tags do not count
    ({"text": "   "}, "message text is empty"),
    ({"text": "<b>bold"}, "can't parse entities: Can't find end tag"),
    ({"text": "a < b"}, "can't parse entities"),
    ({"text": "<br>"}, "can't parse entities: Unsupported start tag"),
    ({"text": "<b><i>x</b></i>"}, "can't parse entities: Unmatched end tag"),
    ({"text": "AT&T"}, "can't parse entities"),
    ({"text": "<a>x</a>"}, "can't parse entities"),
    ({"text": "&lt;ok&gt; &amp; &#65; &quot; <a href='https://x.org'>l</a> <tg-spoiler>s</tg-spoiler>"}, None),
    ({"text": "*bold*", "parse_mode": "MarkdownV2"}, None),
    ({"text": "1.5", "parse_mode": "MarkdownV2"}, "Character '.' is reserved"),
    (
        {
            "text": "x",
            "reply_markup": InlineKeyboardMarkup(
                inline_keyboard=[[InlineKeyboardButton(text="b", callback_data="é" * 33)]]
            ),
        },
        "BUTTON_DATA_INVALID",
    ),
    (
        {
            "text": "x",
            "reply_markup": InlineKeyboardMarkup(
                inline_keyboard=[[InlineKeyboardButton(text="b", callback_data="a" * 64)]]
            ),
        },
        None,
    ),
]


async def test_send_message_refusals(emu: TelegramEmulator, bot: Bot) -> None:
    user = await _started_user(emu)
    for case, expected in SEND_MESSAGE_CASES:
        kwargs = {"parse_mode": "HTML", **case}
        if expected is None:
            await bot.send_message(user.id, **kwargs)
            assert emu.failures == [], kwargs
            continue
        with pytest.raises(TelegramBadRequest) as info:
            await bot.send_message(user.id, **kwargs)
        assert expected in info.value.message, (kwargs, info.value.message)
        assert emu.requests[-1].status == 400
        assert len(emu.take_failures()) == 1


async def test_caption_and_callback_answer_limits(emu: TelegramEmulator, bot: Bot) -> None:
    user = await _started_user(emu)
    photo = BufferedInputFile(tiny_png(), "p.png")
    with pytest.raises(TelegramBadRequest, match="media caption is too long"):
        await bot.send_photo(user.id, photo, caption="c" * 1025)
    with pytest.raises(TelegramBadRequest, match="IMAGE_PROCESS_FAILED"):
        await bot.send_photo(user.id, BufferedInputFile(b"not an image", "p.png"))
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query("12345", text="x")
    assert len(emu.take_failures()) == 3


async def test_chat_state_errors(emu: TelegramEmulator, bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(999, "x")
    stranger = emu.user(100000005, first_name="Stranger")
    with pytest.raises(TelegramForbiddenError, match="can't initiate conversation"):
        await bot.send_message(stranger.id, "x")
    await stranger.send_text("hi")
    await bot.send_message(stranger.id, "x")
    await stranger.block_bot()
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(stranger.id, "x")
    # Only the 400 is the bot's fault; 403s are user states the bot must handle.
    failures = emu.take_failures()
    assert len(failures) == 1 and "chat not found" in failures[0]


async def test_unknown_param_missing_param_unknown_method(emu: TelegramEmulator, bot: Bot) -> None:
    user = await _started_user(emu)
    async with aiohttp.ClientSession() as http:
        url = f"{emu.base_url}/bot{emu.token}"
        async with http.post(f"{url}/sendMessage", data={"chat_id": user.id, "text": "x", "bogus": "1"}) as r:
            assert r.status == 400 and "bogus" in (await r.json())["description"]
        async with http.post(f"{url}/sendMessage", json={"chat_id": user.id}) as r:
            assert r.status == 400 and (await r.json())["description"] == "Bad Request: message text is empty"
        async with http.post(f"{url}/sendMessage", data={"chat_id": "abc", "text": "x"}) as r:
            assert r.status == 400
        async with http.post(f"{url}/SENDMESSAGE", json={"chat_id": user.id, "text": "case"}) as r:
            assert r.status == 200 and (await r.json())["result"]["text"] == "case"
        async with http.get(f"{url}/noSuchMethod") as r:
            body = await r.json()
            assert r.status == 404 and body == {"ok": False, "error_code": 404, "description": "Not Found"}
        async with http.get(f"{emu.base_url}/botWRONG/getMe") as r:
            assert r.status == 401 and (await r.json())["description"] == "Unauthorized"
        async with http.post(
            f"{url}/sendMessage", data={"chat_id": user.id, "text": "x", "reply_markup": "{not json"}
        ) as r:
            assert r.status == 400

    class NoSuchMethod(TelegramMethod[bool]):
        __returning__ = bool
        __api_method__ = "noSuchMethod"

    with pytest.raises(TelegramNotFound):
        await bot(NoSuchMethod())

    class NotImplementedMethod(TelegramMethod[bool]):
        __returning__ = bool
        __api_method__ = "sendDice"
        chat_id: int

    with pytest.raises(TelegramServerError):
        await bot(NotImplementedMethod(chat_id=user.id))
    failures = emu.take_failures()
    assert len(failures) == 8
    assert any("does not implement sendDice" in f for f in failures)


async def test_edits_and_deletes(emu: TelegramEmulator, bot: Bot) -> None:
    user = await _started_user(emu)
    kb = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="a", callback_data="a")]])
    msg = await bot.send_message(user.id, "text", reply_markup=kb)
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text("text", chat_id=user.id, message_id=msg.message_id, reply_markup=kb)
    edited = await bot.edit_message_text("new", chat_id=user.id, message_id=msg.message_id, reply_markup=kb)
    assert isinstance(edited, Message) and edited.edit_date is not None
    await bot.edit_message_reply_markup(chat_id=user.id, message_id=msg.message_id)
    assert emu.message(user.id, msg.message_id).reply_markup is None
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=user.id, message_id=9999)
    assert await bot.delete_message(user.id, msg.message_id)
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(user.id, msg.message_id)
    assert emu.bot_messages(user.id) == []
    assert len(emu.bot_messages(user.id, include_deleted=True)) == 1
    assert len(emu.take_failures()) == 3


async def test_media_group_copy_forward_and_files(emu: TelegramEmulator, bot: Bot) -> None:
    user = await _started_user(emu)
    sent = await bot.send_media_group(
        user.id,
        [
            InputMediaPhoto(media=BufferedInputFile(tiny_png(), "a.png"), caption="first"),
            InputMediaPhoto(media=BufferedInputFile(tiny_png(3, 3), "b.png")),
        ],
    )
    assert len(sent) == 2 and sent[0].media_group_id == sent[1].media_group_id
    assert sent[0].photo is not None
    again = await bot.send_photo(user.id, sent[0].photo[-1].file_id)
    assert again.photo is not None and again.photo[-1].file_unique_id == sent[0].photo[-1].file_unique_id
    doc = await bot.send_document(user.id, BufferedInputFile(b"%PDF-1.4 data", "report.pdf"))
    assert doc.document is not None and doc.document.file_name == "report.pdf"
    assert doc.document.mime_type == "application/pdf"
    file = await bot.get_file(doc.document.file_id)
    assert file.file_path
    data = await bot.download_file(file.file_path)
    assert data is not None and data.read() == b"%PDF-1.4 data"
    copied = await bot.copy_message(user.id, user.id, doc.message_id)
    assert emu.message(user.id, copied.message_id).document == emu.message(user.id, doc.message_id).document
    fwd = await bot.forward_message(user.id, user.id, doc.message_id)
    assert fwd.forward_origin is not None
    with pytest.raises(TelegramBadRequest, match="wrong file identifier"):
        await bot.send_document(user.id, "BQACAgIAAxkBAAIbogus")
    assert len(emu.take_failures()) == 1


async def test_chat_info_commands_and_misc(emu: TelegramEmulator, bot: Bot) -> None:
    user = await _started_user(emu)
    admin = emu.user(100000009, first_name="Boss")
    emu.group(GROUP_ID, title="ROADS", members=[user], admins=[admin], owner=admin)
    me = await bot.get_me()
    assert me.username == "munorders_bot" and me.is_bot
    chat = await bot.get_chat(GROUP_ID)
    assert chat.title == "ROADS"
    member = await bot.get_chat_member(GROUP_ID, user.id)
    assert member.status == "member"
    owner = await bot.get_chat_member(GROUP_ID, admin.id)
    assert owner.status == "creator"
    admins = await bot.get_chat_administrators(GROUP_ID)
    assert [a.user.id for a in admins] == [admin.id]
    await bot.set_my_commands([BotCommand(command="start", description="Start")])
    await bot.set_my_commands(
        [BotCommand(command="orders", description="Orders")],
        scope=BotCommandScopeAllPrivateChats(),
        language_code="ru",
    )
    assert emu.get_commands() == [{"command": "start", "description": "Start"}]
    assert emu.commands[("all_private_chats", "ru")][0]["command"] == "orders"
    got = await bot.get_my_commands(scope=BotCommandScopeAllPrivateChats(), language_code="ru")
    assert got[0].command == "orders"
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Bad-Cmd", description="x")])
    assert await bot.send_chat_action(user.id, "typing")
    assert await bot.set_my_description("desc")
    assert len(emu.take_failures()) == 1


async def test_rate_limits(emu: TelegramEmulator, bot: Bot) -> None:
    emu.rate_limits = True
    user = await _started_user(emu)
    with pytest.raises(TelegramRetryAfter) as info:
        for i in range(10):
            await bot.send_message(user.id, f"m{i}")
    assert info.value.retry_after >= 1
    assert emu.stats["429"] == 1
    assert emu.failures == []


# ---------------------------------------------------------------------------------------------------------------
# getUpdates semantics
# ---------------------------------------------------------------------------------------------------------------


async def test_get_updates_offset_and_timeout(emu: TelegramEmulator, bot: Bot) -> None:
    user = emu.user(100000001, first_name="Ivan")
    for text in ("one", "two", "three"):
        await user.send_text(text)
    updates = await bot.get_updates(limit=2)
    assert [u.message.text for u in updates if u.message] == ["one", "two"]
    updates = await bot.get_updates(offset=updates[-1].update_id + 1)
    assert [u.message.text for u in updates if u.message] == ["three"]
    updates = await bot.get_updates(offset=-1)
    assert len(updates) == 1
    assert await bot.get_updates(offset=updates[0].update_id + 1, timeout=0) == []

    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await bot.get_updates(timeout=1) == []
    assert loop.time() - started >= 0.9

    async def later() -> None:
        await asyncio.sleep(0.2)
        await user.send_text("wake")

    started = loop.time()
    waker = asyncio.create_task(later())
    updates = await bot.get_updates(timeout=5)
    await waker
    assert loop.time() - started < 2 and updates[0].message and updates[0].message.text == "wake"
    # Every produced update validates with aiogram's model
    Update.model_validate(emu.calls("getUpdates")[-1].result[0])


async def test_get_updates_conflict(emu: TelegramEmulator, bot: Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.1)
    second = asyncio.create_task(bot.get_updates(timeout=1))
    with pytest.raises(TelegramConflictError, match="terminated by other"):
        await first
    assert await second == []
    assert len(emu.take_failures()) == 1


# ---------------------------------------------------------------------------------------------------------------
# Webhook
# ---------------------------------------------------------------------------------------------------------------


async def test_webhook_delivery(emu: TelegramEmulator, bot: Bot) -> None:
    received: list[tuple[str | None, dict[str, Any]]] = []
    fail_first = {"left": 1}

    async def hook(request: web.Request) -> web.Response:
        if fail_first["left"]:
            fail_first["left"] -= 1
            return web.Response(status=500)
        received.append((request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json()))
        return web.json_response({"method": "sendMessage", "chat_id": 100000001, "text": "via webhook reply"})

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        user = emu.user(100000001, first_name="Ivan")
        await bot.set_webhook(f"http://127.0.0.1:{port}/hook", secret_token="s3cr3t", max_connections=1)
        with pytest.raises(TelegramConflictError, match="webhook is active"):
            await bot.get_updates()
        for text in ("a", "b", "c"):
            await user.send_text(text)
        await emu.wait_idle(timeout=5)
        assert [secret for secret, _ in received] == ["s3cr3t"] * 3
        assert [u["message"]["text"] for _, u in received] == ["a", "b", "c"]
        info = await bot.get_webhook_info()
        assert info.pending_update_count == 0 and info.last_error_message
        assert [m.text for m in emu.bot_messages(user.id)] == ["via webhook reply"] * 3
        failures = emu.take_failures()
        assert len(failures) == 2  # the getUpdates conflict and the 500 from the webhook
        await bot.delete_webhook()
        assert (await bot.get_webhook_info()).url == ""
    finally:
        await runner.cleanup()


async def test_update_json_is_valid_for_aiogram(emu: TelegramEmulator) -> None:
    user = emu.user(100000001, first_name="Ivan")
    group = emu.group(GROUP_ID, title="G", members=[user])
    await user.send_document(b"data", file_name="a.txt", mime_type="text/plain", caption="#tag @someone")
    await user.forward_message("fwd", from_name="Someone")
    await group.add_member(emu.user(100000003, first_name="New"))
    await user.send_text("/bind", chat=group)
    for update in emu._updates:
        parsed = Update.model_validate(json.loads(json.dumps(update)))
        assert parsed.update_id == update["update_id"]
    assert len(emu._updates) == 4


async def test_fixture_and_unblock(emulator: TelegramEmulator) -> None:
    bot = emulator.make_bot()
    try:
        user = emulator.user(100000001, first_name="Ivan")
        await user.send_text("hi")
        await user.block_bot()
        await user.send_text("/start")  # "Restart" unblocks the bot
        assert (await bot.send_message(user.id, "back")).text == "back"
        kinds = [next(k for k in u if k != "update_id") for u in emulator._updates]
        assert kinds == ["message", "my_chat_member", "my_chat_member", "message"]
    finally:
        await bot.session.close()
