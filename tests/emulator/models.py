"""Data objects of the emulator: recorded API calls, stored messages/files, simulated users and groups."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiogram.types import Message

if TYPE_CHECKING:
    from .server import TelegramEmulator


class EmulatorError(Exception):
    """Misuse of the emulator by a test (no such button, unknown message, timeout...)."""


class EmulatorTimeout(EmulatorError, TimeoutError):
    """wait_idle() did not reach an idle state in time."""


@dataclass
class ApiCall:
    """One HTTP request the bot made to the emulator."""

    method: str
    params: dict[str, Any]
    files: dict[str, bytes]
    ok: bool = True
    error: str | None = None
    at: float = field(default_factory=time.monotonic)
    status: int = 200
    result: Any = None


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    kind: str  # photo | document | ...
    data: bytes
    file_name: str | None = None
    mime_type: str | None = None
    width: int | None = None
    height: int | None = None

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass
class StoredMessage:
    """A message as it currently looks in a chat (edits applied); ``raw`` is its Bot API JSON."""

    chat_id: int
    message_id: int
    raw: dict[str, Any]
    from_bot: bool
    from_user_id: int | None
    edited: bool = False
    deleted: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)  # previous versions of raw

    @property
    def text(self) -> str | None:
        return self.raw.get("text")

    @property
    def caption(self) -> str | None:
        return self.raw.get("caption")

    @property
    def content(self) -> str:
        """Text or caption (empty string if neither)."""
        return self.raw.get("text") or self.raw.get("caption") or ""

    @property
    def entities(self) -> list[dict[str, Any]]:
        return list(self.raw.get("entities") or self.raw.get("caption_entities") or [])

    @property
    def reply_markup(self) -> dict[str, Any] | None:
        """Inline keyboard (as Bot API JSON) attached to the message, if any."""
        return self.raw.get("reply_markup")

    @property
    def photo(self) -> list[dict[str, Any]] | None:
        return self.raw.get("photo")

    @property
    def document(self) -> dict[str, Any] | None:
        return self.raw.get("document")

    @property
    def reply_to_message_id(self) -> int | None:
        reply = self.raw.get("reply_to_message")
        return reply["message_id"] if reply else None

    @property
    def buttons(self) -> list[tuple[str, str | None]]:
        """(label, callback_data or url) of the inline keyboard, row by row."""
        return buttons_of(self.raw.get("reply_markup"))

    def as_aiogram(self) -> Message:
        return Message.model_validate(self.raw)

    def __repr__(self) -> str:
        who = "bot" if self.from_bot else f"user {self.from_user_id}"
        flags = ("E" if self.edited else "") + ("D" if self.deleted else "")
        suffix = f" [{flags}]" if flags else ""
        return f"<StoredMessage {self.chat_id}/{self.message_id} from {who}{suffix}: {self.content!r}>"


def buttons_of(markup: dict[str, Any] | None) -> list[tuple[str, str | None]]:
    if not markup or "inline_keyboard" not in markup:
        return []
    result: list[tuple[str, str | None]] = []
    for row in markup["inline_keyboard"]:
        for button in row:
            value = button.get("callback_data")
            if value is None:
                value = button.get("url")
            result.append((button.get("text", ""), value))
    return result


@dataclass
class CallbackAnswer:
    text: str | None
    show_alert: bool
    url: str | None
    cache_time: int | None


@dataclass
class CallbackQueryHandle:
    """A button press. ``answer`` is filled in when the bot calls answerCallbackQuery."""

    id: str
    data: str
    chat_id: int
    message_id: int
    user_id: int
    created_at: float = field(default_factory=time.monotonic)
    delivered: bool = False
    answer: CallbackAnswer | None = None
    reported: bool = False

    @property
    def answered(self) -> bool:
        return self.answer is not None


class SimUser:
    """A simulated Telegram user. Actions return the user's message as an aiogram ``Message``."""

    def __init__(
        self,
        emulator: TelegramEmulator,
        user_id: int,
        first_name: str,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "ru",
        is_premium: bool = False,
    ) -> None:
        self.emu = emulator
        self.id = user_id
        self.first_name = first_name
        self.last_name = last_name
        self.username = username
        self.language_code = language_code
        self.is_premium = is_premium
        self.started = False  # has a private chat with the bot (wrote to it at least once)
        self.blocked_bot = False
        self.deactivated = False

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            data["last_name"] = self.last_name
        if self.username:
            data["username"] = self.username
        if self.language_code:
            data["language_code"] = self.language_code
        if self.is_premium:
            data["is_premium"] = True
        return data

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}" if self.last_name else self.first_name

    # ---- actions ------------------------------------------------------------------------------------------
    async def send_text(self, text: str, chat: SimGroup | None = None) -> Message:
        return await self.emu._user_message(self, chat, {"text": text})

    async def send_photo(self, data: bytes, caption: str | None = None, chat: SimGroup | None = None) -> Message:
        return await self.emu._user_message(self, chat, {"photo": data, "caption": caption})

    async def send_document(
        self,
        data: bytes,
        file_name: str = "document.bin",
        mime_type: str = "application/octet-stream",
        caption: str | None = None,
        chat: SimGroup | None = None,
    ) -> Message:
        return await self.emu._user_message(
            self, chat, {"document": data, "file_name": file_name, "mime_type": mime_type, "caption": caption}
        )

    async def send_sticker(self, emoji: str = "👍", chat: SimGroup | None = None) -> Message:
        """A sticker: content a bot usually cannot use (tests of 'unsupported media' answers)."""
        return await self.emu._user_message(self, chat, {"sticker": emoji})

    async def send_voice(self, seconds: int = 3, chat: SimGroup | None = None) -> Message:
        return await self.emu._user_message(self, chat, {"voice": seconds})

    async def forward_message(
        self,
        text: str,
        from_name: str = "Someone",
        from_user: SimUser | None = None,
        chat: SimGroup | None = None,
    ) -> Message:
        return await self.emu._user_message(
            self, chat, {"text": text, "forward_from_name": from_name, "forward_from_user": from_user}
        )

    async def reply_to(self, message: Message | StoredMessage | dict[str, Any], text: str) -> Message:
        stored = self.emu._resolve_message(message)
        chat = self.emu._groups.get(stored.chat_id)
        return await self.emu._user_message(self, chat, {"text": text, "reply_to": stored})

    async def tap_reply_button(self, label: str) -> Message:
        """Tap a button of the reply keyboard currently shown in the private chat (sends its text)."""
        return await self.emu._tap_reply_button(self, label)

    async def press(self, message: Message | StoredMessage | dict[str, Any], label: str) -> CallbackQueryHandle:
        return await self.emu._press(self, message, label=label)

    async def press_data(self, message: Message | StoredMessage | dict[str, Any], data: str) -> CallbackQueryHandle:
        return await self.emu._press(self, message, data=data)

    async def block_bot(self) -> None:
        await self.emu._set_blocked(self, True)

    async def unblock_bot(self) -> None:
        await self.emu._set_blocked(self, False)

    def __repr__(self) -> str:
        return f"<SimUser {self.id} {self.full_name!r}>"


class SimGroup:
    """A simulated supergroup the bot is a member of."""

    def __init__(
        self,
        emulator: TelegramEmulator,
        chat_id: int,
        title: str,
        members: list[SimUser],
        bot_is_admin: bool = False,
        admins: list[SimUser] | None = None,
        owner: SimUser | None = None,
        username: str | None = None,
    ) -> None:
        self.emu = emulator
        self.id = chat_id
        self.title = title
        self.members: dict[int, SimUser] = {u.id: u for u in members}
        self.admin_ids: set[int] = {u.id for u in admins or []}
        self.owner_id: int | None = owner.id if owner else None
        if owner:
            self.members[owner.id] = owner
        for admin in admins or []:
            self.members[admin.id] = admin
        self.bot_is_admin = bot_is_admin
        self.bot_is_member = True
        self.username = username

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "type": "supergroup", "title": self.title}
        if self.username:
            data["username"] = self.username
        return data

    async def add_member(self, user: SimUser) -> Message:
        """The user joins: a new_chat_members service message is posted (and delivered to the bot)."""
        self.members[user.id] = user
        return await self.emu._service_message(self, user, {"new_chat_members": [user.to_dict()]})

    async def remove_member(self, user: SimUser) -> Message:
        self.members.pop(user.id, None)
        return await self.emu._service_message(self, user, {"left_chat_member": user.to_dict()})

    async def kick_bot(self) -> None:
        """The bot is removed from the group: later sends get 403 'bot was kicked from the group chat'."""
        await self.emu._bot_membership(self, member=False)

    def __repr__(self) -> str:
        return f"<SimGroup {self.id} {self.title!r}>"
