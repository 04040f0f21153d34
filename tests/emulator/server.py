"""A Telegram Bot API emulator: an aiohttp server a real aiogram Bot talks to over HTTP.

Tests act as simulated users (``SimUser``) in private chats and supergroups (``SimGroup``); the emulator
turns their actions into updates (served by getUpdates long polling or pushed to a webhook) and records
every request the bot makes, refusing the ones real Telegram would refuse.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import inspect
import itertools
import json
import math
import mimetypes
import re
import secrets
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message
from aiohttp import web

from .formatting import EntityParseError, detect_entities, entity_text, merge_entities, parse_text
from .media import image_size
from .models import (
    ApiCall,
    CallbackAnswer,
    CallbackQueryHandle,
    EmulatorError,
    EmulatorTimeout,
    SimGroup,
    SimUser,
    StoredFile,
    StoredMessage,
    buttons_of,
)
from .spec import MethodSpec, ParamError, coerce_param, load_spec

JSON = dict[str, Any]
Handler = Callable[[JSON, dict[str, "UploadedFile"]], Any]

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_ANSWER = 200
MAX_DOWNLOAD = 20 * 1024 * 1024
MAX_UPLOAD = 50 * 1024 * 1024
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
DEFAULT_UPDATES = {
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "business_connection",
    "business_message",
    "edited_business_message",
    "deleted_business_messages",
    "inline_query",
    "chosen_inline_result",
    "callback_query",
    "shipping_query",
    "pre_checkout_query",
    "purchased_paid_media",
    "poll",
    "poll_answer",
    "my_chat_member",
    "chat_join_request",
    "chat_boost",
    "removed_chat_boost",
}
SEND_METHODS = {"sendMessage", "sendPhoto", "sendDocument", "sendMediaGroup", "copyMessage", "forwardMessage"}
INLINE_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
CHAT_ACTIONS = {
    "typing",
    "upload_photo",
    "record_video",
    "upload_video",
    "record_voice",
    "upload_voice",
    "upload_document",
    "choose_sticker",
    "find_location",
    "record_video_note",
    "upload_video_note",
}
FILE_ID_PREFIX = {
    "photo": "AgACAgIAAxkBAAI",
    "document": "BQACAgIAAxkBAAI",
    "video": "BAACAgIAAxkBAAI",
    "audio": "CQACAgIAAxkBAAI",
}
USER_STATE_403 = ("blocked by the user", "can't initiate conversation", "user is deactivated", "was kicked")


class ApiError(Exception):
    """A Bot API error response. HTTP status always equals error_code."""

    def __init__(self, code: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


def bad_request(detail: str) -> ApiError:
    return ApiError(400, f"Bad Request: {detail}")


@dataclass
class UploadedFile:
    data: bytes
    filename: str | None
    content_type: str | None


@dataclass
class RateLimits:
    """Limits from the Telegram Bot FAQ (only enforced when rate_limits=True)."""

    per_chat_per_second: float = 1.0
    per_chat_burst: int = 3
    group_per_minute: int = 20
    global_per_second: int = 30


@dataclass
class WebhookConfig:
    url: str
    secret_token: str | None
    max_connections: int
    allowed_updates: list[str] | None
    ip_address: str | None = None
    last_error_date: int | None = None
    last_error_message: str | None = None


@dataclass
class _Poll:
    event: asyncio.Event = field(default_factory=asyncio.Event)
    conflicted: bool = False


def _now() -> int:
    return int(time.time())


def _b64(nbytes: int) -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(nbytes)).decode().rstrip("=")


class TelegramEmulator:
    """Fake Telegram Bot API server. See tests/emulator/README.md for the full API."""

    def __init__(
        self,
        token: str = "123456:TEST",
        bot_username: str = "munorders_bot",
        bot_id: int | None = None,
        *,
        bot_first_name: str = "MunOrders",
        strict: bool = True,
        rate_limits: bool = False,
        rate_limit_config: RateLimits | None = None,
        callback_answer_timeout: float = 10.0,
        idle_quiet: float = 0.15,
        strict_html: bool = True,
        validate_images: bool = True,
        host: str = "127.0.0.1",
    ) -> None:
        self.token = token
        self.bot_username = bot_username
        self.bot_id = bot_id if bot_id is not None else int(token.split(":", 1)[0])
        self.bot_first_name = bot_first_name
        self.strict = strict
        self.rate_limits = rate_limits
        self.rate_limit_config = rate_limit_config or RateLimits()
        self.callback_answer_timeout = callback_answer_timeout
        self.idle_quiet = idle_quiet
        self.strict_html = strict_html
        self.validate_images = validate_images
        self.host = host

        self.requests: list[ApiCall] = []
        self.failures: list[str] = []
        self.stats: Counter[str] = Counter()
        self.commands: dict[tuple[str, str], list[JSON]] = {}
        self.menu_buttons: dict[int | None, JSON] = {}
        self.descriptions: dict[tuple[str, str], str] = {}

        self._users: dict[int, SimUser] = {}
        self._groups: dict[int, SimGroup] = {}
        self._messages: dict[int, dict[int, StoredMessage]] = {}
        self._next_message_id: dict[int, int] = {}
        self._files: dict[str, StoredFile] = {}
        self._file_paths: dict[str, StoredFile] = {}
        self._file_counter = itertools.count(1)
        self._reply_keyboards: dict[int, JSON | None] = {}
        self._callbacks: dict[str, CallbackQueryHandle] = {}
        self._media_group_counter = itertools.count(13_000_000_000_000_000)

        self._updates: list[JSON] = []  # not yet confirmed (polling) / not yet delivered (webhook)
        self._next_update_id = 700_000_001
        self._max_delivered = 0
        self._allowed_updates: set[str] = set(DEFAULT_UPDATES)
        self._poll: _Poll | None = None
        self._webhook: WebhookConfig | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self._webhook_wakeup = asyncio.Event()
        self._webhook_inflight: set[int] = set()
        self._webhook_retry_at: dict[int, float] = {}

        self._inflight = 0
        self._last_activity = time.monotonic()
        self._rate_chat: dict[int, tuple[float, float]] = {}
        self._rate_group: dict[int, deque[float]] = {}
        self._rate_global: deque[float] = deque()

        self._runner: web.AppRunner | None = None
        self._closing = False
        self.base_url = ""
        self._handlers: dict[str, Handler] = self._build_handlers()

    # ==========================================================================================================
    # Lifecycle
    # ==========================================================================================================

    async def start(self) -> None:
        app = web.Application(client_max_size=MAX_UPLOAD + 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._http_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._http_file)
        # Like Telegram, a long poll whose client hung up is over (it does not conflict with the next one).
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://{self.host}:{port}"
        self._webhook_wakeup = asyncio.Event()

    async def stop(self) -> None:
        self._closing = True
        if self._poll is not None:
            self._poll.event.set()
        await self._stop_webhook_worker()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> TelegramEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def make_session(self, **kwargs: Any) -> AiohttpSession:
        """An aiogram session whose requests go to this emulator."""
        return AiohttpSession(api=TelegramAPIServer.from_base(self.base_url), **kwargs)

    def make_bot(self, **kwargs: Any) -> Any:
        """Convenience: an aiogram Bot bound to this emulator (kwargs go to Bot, e.g. default=...)."""
        from aiogram import Bot

        return Bot(self.token, session=self.make_session(), **kwargs)

    # ==========================================================================================================
    # Simulated world
    # ==========================================================================================================

    def user(
        self,
        user_id: int,
        first_name: str = "User",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "ru",
        is_premium: bool = False,
    ) -> SimUser:
        """Create (or return the existing) simulated user."""
        if user_id in self._users:
            return self._users[user_id]
        user = SimUser(self, user_id, first_name, last_name, username, language_code, is_premium)
        self._users[user_id] = user
        return user

    def group(
        self,
        chat_id: int,
        title: str = "Group",
        members: list[SimUser] | None = None,
        bot_is_admin: bool = False,
        admins: list[SimUser] | None = None,
        owner: SimUser | None = None,
        username: str | None = None,
    ) -> SimGroup:
        """Create a supergroup with the bot in it (no update is sent for that)."""
        if chat_id >= 0:
            raise EmulatorError("group chat ids are negative (supergroups look like -100...)")
        group = SimGroup(self, chat_id, title, list(members or []), bot_is_admin, admins, owner, username)
        self._groups[chat_id] = group
        return group

    def bot_user(self) -> JSON:
        return {"id": self.bot_id, "is_bot": True, "first_name": self.bot_first_name, "username": self.bot_username}

    # ==========================================================================================================
    # Inspection helpers for tests
    # ==========================================================================================================

    def messages(self, chat_id: int, include_deleted: bool = False) -> list[StoredMessage]:
        """Messages of a chat (bot's and users'), oldest first, with edits applied."""
        return [m for m in self._messages.get(chat_id, {}).values() if include_deleted or not m.deleted]

    def bot_messages(self, chat_id: int, include_deleted: bool = False) -> list[StoredMessage]:
        return [m for m in self.messages(chat_id, include_deleted) if m.from_bot]

    def last_bot_message(self, chat_id: int) -> StoredMessage | None:
        msgs = self.bot_messages(chat_id)
        return msgs[-1] if msgs else None

    def message(self, chat_id: int, message_id: int) -> StoredMessage:
        try:
            return self._messages[chat_id][message_id]
        except KeyError:
            raise EmulatorError(f"no message {message_id} in chat {chat_id}") from None

    def buttons(self, message: Message | StoredMessage | JSON) -> list[tuple[str, str | None]]:
        """(label, callback_data or url) of the message's current inline keyboard."""
        return buttons_of(self._resolve_message(message).reply_markup)

    def reply_keyboard(self, chat_id: int) -> JSON | None:
        """The ReplyKeyboardMarkup currently shown in the chat (None if none / removed)."""
        return self._reply_keyboards.get(chat_id)

    def file_bytes(self, file_id: str) -> bytes:
        try:
            return self._files[file_id].data
        except KeyError:
            raise EmulatorError(f"unknown file_id {file_id!r}") from None

    def calls(self, method: str) -> list[ApiCall]:
        """Recorded requests of one method (case-insensitive)."""
        return [c for c in self.requests if c.method.lower() == method.lower()]

    def get_commands(self, scope: str = "default", language_code: str = "") -> list[JSON] | None:
        """Commands set for a scope key ('default', 'all_private_chats', 'chat:<id>', 'chat_member:<c>:<u>')."""
        return self.commands.get((scope, language_code))

    def take_failures(self) -> list[str]:
        """Return and clear the recorded failures (for tests that provoke refusals on purpose)."""
        self._check_unanswered_callbacks(final=False)
        failures, self.failures = self.failures, []
        return failures

    def assert_no_failures(self) -> None:
        self._check_unanswered_callbacks(final=True)
        if self.failures:
            listing = "\n".join(f"  - {f}" for f in self.failures)
            raise AssertionError(f"Telegram emulator recorded {len(self.failures)} problem(s):\n{listing}")

    def pending_update_count(self) -> int:
        return len(self._updates)

    async def wait_idle(self, timeout: float = 5.0, quiet: float | None = None) -> None:  # noqa: ASYNC109
        """Wait until every queued update was fetched by the bot and the bot made no request for `quiet` s."""
        quiet = self.idle_quiet if quiet is None else quiet
        deadline = time.monotonic() + timeout
        while True:
            now = time.monotonic()
            undelivered = self._undelivered()
            # A delivered button press the bot has not answered yet means the bot is still at work
            # (until callback_answer_timeout, when it becomes a failure).
            spinning = any(
                h.delivered and not h.answered and now - h.created_at < self.callback_answer_timeout
                for h in self._callbacks.values()
            )
            if not undelivered and self._inflight == 0 and not self._webhook_inflight and not spinning:
                if now - self._last_activity >= quiet:
                    break
            if now >= deadline:
                raise EmulatorTimeout(
                    f"bot not idle after {timeout}s: {len(undelivered)} update(s) not fetched, "
                    f"{self._inflight} request(s) in flight, webhook deliveries in flight: "
                    f"{len(self._webhook_inflight)} (is the bot polling / is the webhook set?)"
                )
            await asyncio.sleep(0.01)
        self._check_unanswered_callbacks(final=False)

    # ==========================================================================================================
    # HTTP layer
    # ==========================================================================================================

    def _touch(self) -> None:
        self._last_activity = time.monotonic()

    async def _read_body(self, request: web.Request) -> tuple[JSON, dict[str, UploadedFile]]:
        params: JSON = dict(request.query)
        files: dict[str, UploadedFile] = {}
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                try:
                    body = await request.json()
                except ValueError:
                    raise bad_request("can't parse JSON encoded request body") from None
                if not isinstance(body, dict):
                    raise bad_request("JSON body must be an object")
                params.update(body)
            else:
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, web.FileField):
                        files[key] = UploadedFile(value.file.read(), value.filename, value.content_type)
                    else:
                        params[key] = value
        return params, files

    async def _http_api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            self._fail(f"request with a wrong token to {request.match_info['method']}")
            return self._error_response(ApiError(401, "Unauthorized"))
        method_name = request.match_info["method"]
        spec = load_spec().resolve(method_name)
        if spec is None:
            self._fail(f"unknown Bot API method {method_name!r} (Telegram answers 404 Not Found)")
            return self._error_response(ApiError(404, "Not Found"))
        is_poll = spec.name == "getUpdates"
        if not is_poll:
            self._inflight += 1
            self._touch()
        try:
            try:
                raw, files = await self._read_body(request)
            except ApiError as exc:
                self._record(ApiCall(spec.name, {}, {}), exc)
                return self._error_response(exc)
            status, payload = await self._execute(spec, raw, files)
            return web.json_response(payload, status=status)
        finally:
            if not is_poll:
                self._inflight -= 1
                self._touch()

    async def _execute(self, spec: MethodSpec, raw: JSON, files: dict[str, UploadedFile]) -> tuple[int, JSON]:
        call = ApiCall(spec.name, dict(raw), {k: f.data for k, f in files.items()})
        self.requests.append(call)
        try:
            params = self._validate(spec, raw, files)
            call.params = params
            handler = self._handlers.get(spec.name)
            if handler is None:
                raise ApiError(501, f"Not Implemented: the emulator does not implement {spec.name}")
            result = handler(params, files)
            if inspect.isawaitable(result):
                result = await result
        except ApiError as exc:
            self._record(call, exc)
            return exc.code, self._error_payload(exc)
        call.result = result
        return 200, {"ok": True, "result": result}

    def _record(self, call: ApiCall, exc: ApiError) -> None:
        call.ok = False
        call.status = exc.code
        call.error = exc.description
        if call not in self.requests:
            self.requests.append(call)
        self.stats[str(exc.code)] += 1
        if exc.code == 429:
            return
        user_state = exc.code == 403 and any(s in exc.description for s in USER_STATE_403)
        if exc.code >= 500 or exc.code == 401 or (self.strict and not user_state):
            shown = {k: (v if len(repr(v)) < 200 else repr(v)[:200] + "...") for k, v in call.params.items()}
            self._fail(f"{call.method} refused: {exc.code} {exc.description!r}; params={shown}")

    def _fail(self, text: str) -> None:
        self.failures.append(text)

    @staticmethod
    def _error_payload(exc: ApiError) -> JSON:
        payload: JSON = {"ok": False, "error_code": exc.code, "description": exc.description}
        if exc.parameters:
            payload["parameters"] = exc.parameters
        return payload

    def _error_response(self, exc: ApiError) -> web.Response:
        return web.json_response(self._error_payload(exc), status=exc.code)

    async def _http_file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return self._error_response(ApiError(401, "Unauthorized"))
        stored = self._file_paths.get(request.match_info["path"])
        if stored is None:
            return self._error_response(ApiError(404, "Not Found"))
        return web.Response(body=stored.data, content_type=stored.mime_type or "application/octet-stream")

    def _validate(self, spec: MethodSpec, raw: JSON, files: dict[str, UploadedFile]) -> JSON:
        # A file part named exactly like an InputFile parameter is an upload of that parameter.
        for name in list(files):
            pspec = spec.params.get(name)
            if pspec is not None and "InputFile" in pspec.types and name not in raw:
                raw[name] = f"attach://{name}"
        params: JSON = {}
        for name, value in raw.items():
            pspec = spec.params.get(name)
            if pspec is None:
                raise bad_request(f'unknown parameter "{name}" for method {spec.name}')
            try:
                params[name] = coerce_param(pspec, value)
            except ParamError as exc:
                raise bad_request(str(exc)) from None
        for pspec in spec.params.values():
            if pspec.required and pspec.name not in params:
                if pspec.name == "text":
                    raise bad_request("message text is empty")
                if pspec.name == "chat_id":
                    raise bad_request("chat_id is empty")
                raise bad_request(f'parameter "{pspec.name}" is required')
        return params

    # ==========================================================================================================
    # Updates: queue, getUpdates, webhook
    # ==========================================================================================================

    def _queue_update(self, kind: str, payload: JSON) -> JSON:
        update = {"update_id": self._next_update_id, kind: payload}
        self._next_update_id += 1
        self._updates.append(update)
        self._touch()
        if self._poll is not None:
            self._poll.event.set()
        self._webhook_wakeup.set()
        return update

    @staticmethod
    def _update_kind(update: JSON) -> str:
        return next(k for k in update if k != "update_id")

    def _allowed(self, update: JSON, allowed: set[str]) -> bool:
        return self._update_kind(update) in allowed

    def _undelivered(self) -> list[JSON]:
        if self._webhook is not None:
            return list(self._updates)
        return [u for u in self._updates if u["update_id"] > self._max_delivered]

    def _mark_delivered(self, updates: list[JSON]) -> None:
        now = time.monotonic()
        for update in updates:
            self._max_delivered = max(self._max_delivered, update["update_id"])
            cq = update.get("callback_query")
            if cq is not None and cq["id"] in self._callbacks:
                handle = self._callbacks[cq["id"]]
                if not handle.delivered:
                    handle.delivered = True
                    handle.created_at = now
        self._touch()

    async def _get_updates(self, p: JSON, _files: dict[str, UploadedFile]) -> list[JSON]:
        if self._webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        if self._poll is not None:
            # Telegram terminates the older long poll.
            self._poll.conflicted = True
            self._poll.event.set()
        poll = _Poll()
        self._poll = poll
        try:
            offset = int(p.get("offset", 0))
            limit = min(max(int(p.get("limit", 100)), 1), 100)
            timeout = max(float(p.get("timeout", 0)), 0.0)
            if "allowed_updates" in p:
                allowed = p["allowed_updates"] or []
                self._allowed_updates = set(allowed) if allowed else set(DEFAULT_UPDATES)
            if offset > 0:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            elif offset < 0:
                self._updates = self._updates[offset:]
            deadline = time.monotonic() + timeout
            while True:
                # Updates of kinds the bot did not ask for are dropped, as Telegram does.
                self._updates = [u for u in self._updates if self._allowed(u, self._allowed_updates)]
                batch = self._updates[:limit]
                if batch:
                    self._mark_delivered(batch)
                    return batch
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closing:
                    return []
                poll.event.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(poll.event.wait(), remaining)
                if poll.conflicted:
                    raise ApiError(
                        409,
                        "Conflict: terminated by other getUpdates request; make sure that "
                        "only one bot instance is running",
                    )
                if self._closing:
                    return []
        finally:
            if self._poll is poll:
                self._poll = None

    def _set_webhook(self, p: JSON, _files: dict[str, UploadedFile]) -> bool:
        url = p.get("url", "")
        if p.get("drop_pending_updates"):
            self._updates.clear()
        if not url:
            self._remove_webhook()
            return True
        parsed = re.match(r"^(https?)://([^/:]+)(?::(\d+))?(/.*)?$", url)
        if parsed is None:
            raise bad_request("bad webhook: Failed to resolve host: Name or service not known")
        scheme, host = parsed.group(1), parsed.group(2)
        if scheme != "https" and host not in ("127.0.0.1", "localhost", "::1"):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = p.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise bad_request("secret token contains unallowed characters")
        max_conn = int(p.get("max_connections", 40))
        if not 1 <= max_conn <= 100:
            raise bad_request("bad webhook: max_connections must be between 1 and 100")
        allowed = p.get("allowed_updates")
        if allowed is not None:
            self._allowed_updates = set(allowed) if allowed else set(DEFAULT_UPDATES)
        self._webhook = WebhookConfig(url, secret, max_conn, allowed, p.get("ip_address"))
        if self._poll is not None:
            self._poll.conflicted = True
            self._poll.event.set()
        if self._webhook_task is None or self._webhook_task.done():
            self._webhook_task = asyncio.get_running_loop().create_task(self._webhook_worker())
        self._webhook_wakeup.set()
        return True

    def _remove_webhook(self) -> None:
        self._webhook = None
        self._webhook_wakeup.set()

    async def _delete_webhook(self, p: JSON, _files: dict[str, UploadedFile]) -> bool:
        if p.get("drop_pending_updates"):
            self._updates.clear()
        self._remove_webhook()
        return True

    def _get_webhook_info(self, _p: JSON, _files: dict[str, UploadedFile]) -> JSON:
        hook = self._webhook
        info: JSON = {
            "url": hook.url if hook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if hook:
            info["max_connections"] = hook.max_connections
            if hook.allowed_updates is not None:
                info["allowed_updates"] = hook.allowed_updates
            if hook.ip_address:
                info["ip_address"] = hook.ip_address
            if hook.last_error_date:
                info["last_error_date"] = hook.last_error_date
                info["last_error_message"] = hook.last_error_message
        return info

    async def _stop_webhook_worker(self) -> None:
        task, self._webhook_task = self._webhook_task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _webhook_worker(self) -> None:
        tasks: set[asyncio.Task[None]] = set()
        async with aiohttp.ClientSession() as session:
            try:
                while not self._closing and self._webhook is not None:
                    hook = self._webhook
                    self._updates = [u for u in self._updates if self._allowed(u, self._allowed_updates)]
                    now = time.monotonic()
                    candidates = [u for u in self._updates if u["update_id"] not in self._webhook_inflight]
                    if hook.max_connections == 1:
                        candidates = candidates[:1] if not self._webhook_inflight else []
                    candidates = [u for u in candidates if self._webhook_retry_at.get(u["update_id"], 0) <= now]
                    free = hook.max_connections - len(self._webhook_inflight)
                    if not candidates or free <= 0:
                        self._webhook_wakeup.clear()
                        with contextlib.suppress(asyncio.TimeoutError):
                            await asyncio.wait_for(self._webhook_wakeup.wait(), 0.02)
                        continue
                    for update in candidates[:free]:
                        self._webhook_inflight.add(update["update_id"])
                        task = asyncio.get_running_loop().create_task(self._deliver(session, hook, update))
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
            finally:
                for task in list(tasks):
                    task.cancel()
                for task in list(tasks):
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
                self._webhook_inflight.clear()

    async def _deliver(self, session: aiohttp.ClientSession, hook: WebhookConfig, update: JSON) -> None:
        uid = update["update_id"]
        headers = {"Content-Type": "application/json"}
        if hook.secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = hook.secret_token
        error: str | None = None
        body = b""
        try:
            async with session.post(
                hook.url, data=json.dumps(update), headers=headers, timeout=aiohttp.ClientTimeout(total=30)
            ) as resp:
                body = await resp.read()
                if not 200 <= resp.status < 300:
                    error = f"Wrong response from the webhook: {resp.status} {resp.reason}"
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            error = f"Connection failed: {type(exc).__name__}: {exc}"
        try:
            if error is None:
                self._updates = [u for u in self._updates if u["update_id"] != uid]
                self._webhook_retry_at.pop(uid, None)
                self._mark_delivered([update])
                await self._webhook_reply(body)
            else:
                hook.last_error_date = _now()
                hook.last_error_message = error
                retries = self.stats["webhook_retry"] = self.stats["webhook_retry"] + 1
                self._webhook_retry_at[uid] = time.monotonic() + min(0.05 * 2 ** min(retries, 5), 1.0)
                self._fail(f"webhook delivery of update {uid} failed: {error} (Telegram will retry)")
        finally:
            self._webhook_inflight.discard(uid)
            self._touch()
            self._webhook_wakeup.set()

    async def _webhook_reply(self, body: bytes) -> None:
        """A bot may answer a webhook request with a method call in the response body."""
        if not body.strip():
            return
        try:
            data = json.loads(body)
        except ValueError:
            return
        if not isinstance(data, dict) or "method" not in data:
            return
        spec = load_spec().resolve(str(data.pop("method")))
        if spec is None:
            self._fail(f"webhook reply with an unknown method {data!r}")
            return
        await self._execute(spec, data, {})

    # ==========================================================================================================
    # Simulated user actions
    # ==========================================================================================================

    def _chat_dict(self, chat_id: int) -> JSON:
        if chat_id in self._groups:
            return self._groups[chat_id].to_dict()
        user = self._users[chat_id]
        data: JSON = {"id": user.id, "type": "private", "first_name": user.first_name}
        if user.last_name:
            data["last_name"] = user.last_name
        if user.username:
            data["username"] = user.username
        return data

    def _store(self, chat_id: int, raw: JSON, from_bot: bool, from_user_id: int | None) -> StoredMessage:
        stored = StoredMessage(chat_id, raw["message_id"], raw, from_bot, from_user_id)
        self._messages.setdefault(chat_id, {})[stored.message_id] = stored
        return stored

    def _new_message(self, chat_id: int, sender: JSON) -> JSON:
        mid = self._next_message_id.get(chat_id, 1)
        self._next_message_id[chat_id] = mid + 1
        return {"message_id": mid, "from": sender, "chat": self._chat_dict(chat_id), "date": _now()}

    def _resolve_message(self, ref: Message | StoredMessage | JSON) -> StoredMessage:
        if isinstance(ref, StoredMessage):
            chat_id, message_id = ref.chat_id, ref.message_id
        elif isinstance(ref, Message):
            chat_id, message_id = ref.chat.id, ref.message_id
        elif isinstance(ref, dict):
            chat_id, message_id = ref["chat"]["id"], ref["message_id"]
        else:
            raise EmulatorError(f"not a message: {ref!r}")
        return self.message(chat_id, message_id)

    @staticmethod
    def _reply_copy(stored: StoredMessage) -> JSON:
        return {k: v for k, v in stored.raw.items() if k != "reply_to_message"}

    def _privacy_allows(self, raw: JSON, reply_to: StoredMessage | None) -> bool:
        text = raw.get("text") or raw.get("caption") or ""
        entities = raw.get("entities") or raw.get("caption_entities") or []
        if reply_to is not None and reply_to.from_bot:
            return True
        for entity in entities:
            value = entity_text(text, entity)
            if entity["type"] == "mention" and value.lower() == f"@{self.bot_username.lower()}":
                return True
            if entity["type"] == "bot_command" and entity["offset"] == 0:
                _, _, target = value.partition("@")
                if not target or target.lower() == self.bot_username.lower():
                    return True
        return False

    async def _user_message(self, user: SimUser, group: SimGroup | None, content: JSON) -> Message:
        if group is None:
            chat_id = user.id
            if user.blocked_bot:  # writing to a blocked bot means pressing "Restart" (unblocks it)
                await self._set_blocked(user, False)
            user.started = True
        else:
            chat_id = group.id
            if user.id not in group.members:
                raise EmulatorError(f"{user!r} is not a member of {group!r}")
        raw = self._new_message(chat_id, user.to_dict())
        reply_to: StoredMessage | None = content.get("reply_to")
        if reply_to is not None:
            raw["reply_to_message"] = self._reply_copy(reply_to)
        if content.get("forward_from_name") is not None or content.get("forward_from_user") is not None:
            origin_user: SimUser | None = content.get("forward_from_user")
            if origin_user is not None:
                raw["forward_origin"] = {"type": "user", "date": _now() - 60, "sender_user": origin_user.to_dict()}
            else:
                raw["forward_origin"] = {
                    "type": "hidden_user",
                    "date": _now() - 60,
                    "sender_user_name": content["forward_from_name"],
                }
        if "text" in content:
            text = content["text"]
            if not text:
                raise EmulatorError("Telegram clients do not send empty messages")
            raw["text"] = text
            entities = detect_entities(text)
            if entities:
                raw["entities"] = entities
        if content.get("photo") is not None:
            raw["photo"] = self._photo_sizes(
                self._new_file("photo", content["photo"], None, "image/jpeg", check_image=False)
            )
        if content.get("document") is not None:
            stored_file = self._new_file("document", content["document"], content["file_name"], content["mime_type"])
            raw["document"] = self._document_dict(stored_file)
        if content.get("sticker") is not None:
            uid = _b64(8)
            raw["sticker"] = {
                "file_id": "CAACAgIAAx" + _b64(30),
                "file_unique_id": uid,
                "type": "regular",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
                "emoji": content["sticker"],
            }
        if content.get("voice") is not None:
            raw["voice"] = {
                "file_id": "AwACAgIAAx" + _b64(30),
                "file_unique_id": _b64(8),
                "duration": int(content["voice"]),
                "mime_type": "audio/ogg",
            }
        caption = content.get("caption")
        if caption:
            raw["caption"] = caption
            entities = detect_entities(caption)
            if entities:
                raw["caption_entities"] = entities
        self._store(chat_id, raw, from_bot=False, from_user_id=user.id)
        deliver = group is None or group.bot_is_admin or self._privacy_allows(raw, reply_to)
        if deliver and (group is None or group.bot_is_member):
            self._queue_update("message", raw)
        return Message.model_validate(raw)

    async def _service_message(self, group: SimGroup, user: SimUser, payload: JSON) -> Message:
        raw = self._new_message(group.id, user.to_dict())
        raw.update(payload)
        self._store(group.id, raw, from_bot=False, from_user_id=user.id)
        if group.bot_is_member:
            self._queue_update("message", raw)
        return Message.model_validate(raw)

    async def _tap_reply_button(self, user: SimUser, label: str) -> Message:
        keyboard = self._reply_keyboards.get(user.id)
        labels = []
        for row in (keyboard or {}).get("keyboard", []):
            for button in row:
                labels.append(button if isinstance(button, str) else button.get("text", ""))
        if label not in labels:
            raise EmulatorError(f"no reply keyboard button {label!r} shown to {user!r}; shown: {labels}")
        return await user.send_text(label)

    async def _press(
        self,
        user: SimUser,
        ref: Message | StoredMessage | JSON,
        *,
        label: str | None = None,
        data: str | None = None,
    ) -> CallbackQueryHandle:
        stored = self._resolve_message(ref)
        if stored.deleted:
            raise EmulatorError(f"message {stored.chat_id}/{stored.message_id} was deleted")
        if data is None:
            assert label is not None
            buttons = [b for row in (stored.reply_markup or {}).get("inline_keyboard", []) for b in row]
            exact = [b for b in buttons if b.get("text") == label]
            partial = [b for b in buttons if label in b.get("text", "")]
            found = exact or (partial if len(partial) == 1 else [])
            if not found:
                labels = [b.get("text") for b in buttons]
                why = "ambiguous" if len(partial) > 1 else "not found"
                raise EmulatorError(f"button {label!r} {why} on message {stored.message_id}; buttons: {labels}")
            button = found[0]
            if "callback_data" not in button:
                raise EmulatorError(f"button {label!r} is not a callback button: {button}")
            data = str(button["callback_data"])
        qid = str(secrets.randbits(62))
        handle = CallbackQueryHandle(qid, data, stored.chat_id, stored.message_id, user.id)
        self._callbacks[qid] = handle
        query = {
            "id": qid,
            "from": user.to_dict(),
            "message": stored.raw,
            "chat_instance": str(abs(hash((stored.chat_id, self.bot_id))) % 10**19),
            "data": data,
        }
        self._queue_update("callback_query", query)
        return handle

    async def _set_blocked(self, user: SimUser, blocked: bool) -> None:
        if user.blocked_bot == blocked:
            return
        user.blocked_bot = blocked
        if not user.started:
            return
        old, new = ("member", "kicked") if blocked else ("kicked", "member")
        new_member: JSON = {"status": new, "user": self.bot_user()}
        if new == "kicked":
            new_member["until_date"] = 0
        old_member: JSON = {"status": old, "user": self.bot_user()}
        if old == "kicked":
            old_member["until_date"] = 0
        self._queue_update(
            "my_chat_member",
            {
                "chat": self._chat_dict(user.id),
                "from": user.to_dict(),
                "date": _now(),
                "old_chat_member": old_member,
                "new_chat_member": new_member,
            },
        )

    async def _bot_membership(self, group: SimGroup, member: bool) -> None:
        was = self._member_dict(group, self.bot_id)
        group.bot_is_member = member
        actor = next(iter(group.members.values()), None)
        if actor is None:
            return
        self._queue_update(
            "my_chat_member",
            {
                "chat": group.to_dict(),
                "from": actor.to_dict(),
                "date": _now(),
                "old_chat_member": was,
                "new_chat_member": self._member_dict(group, self.bot_id),
            },
        )

    def _check_unanswered_callbacks(self, final: bool) -> None:
        now = time.monotonic()
        for handle in self._callbacks.values():
            if handle.delivered and not handle.answered and not handle.reported:
                if final or now - handle.created_at >= self.callback_answer_timeout:
                    handle.reported = True
                    self._fail(
                        f"callback query {handle.id} (data={handle.data!r}, message "
                        f"{handle.chat_id}/{handle.message_id}) was never answered: "
                        "the user's button keeps spinning"
                    )

    # ==========================================================================================================
    # Files
    # ==========================================================================================================

    def _new_file(
        self, kind: str, data: bytes, file_name: str | None, mime_type: str | None, check_image: bool = True
    ) -> StoredFile:
        width = height = None
        if kind == "photo":
            size = image_size(data)
            if size is None:
                if check_image and self.validate_images:
                    raise bad_request("IMAGE_PROCESS_FAILED")
                size = (800, 600)
            width, height = size
        prefix = FILE_ID_PREFIX.get(kind, "BQACAgIAAxkBAAI")
        stored = StoredFile(prefix + _b64(48), "AQAD" + _b64(9), kind, data, file_name, mime_type, width, height)
        self._files[stored.file_id] = stored
        return stored

    def _file_path(self, stored: StoredFile) -> str:
        for path, f in self._file_paths.items():
            if f is stored:
                return path
        ext = (
            ".jpg"
            if stored.kind == "photo"
            else ("." + stored.file_name.rsplit(".", 1)[1] if stored.file_name and "." in stored.file_name else "")
        )
        folder = {"photo": "photos", "document": "documents", "video": "videos", "audio": "music"}.get(
            stored.kind, "documents"
        )
        path = f"{folder}/file_{next(self._file_counter)}{ext}"
        self._file_paths[path] = stored
        return path

    def _photo_sizes(self, original: StoredFile) -> list[JSON]:
        """PhotoSize list like Telegram's (thumbnails share the bytes of the original in the emulator)."""
        w, h = original.width or 800, original.height or 600
        sizes: list[JSON] = []
        for side in (90, 320, 800, 1280):
            if max(w, h) <= side:
                break
            scale = side / max(w, h)
            thumb = StoredFile(
                original.file_id[:15] + _b64(48),
                "AQAD" + _b64(9),
                "photo",
                original.data,
                None,
                original.mime_type,
                max(1, round(w * scale)),
                max(1, round(h * scale)),
            )
            self._files[thumb.file_id] = thumb
            sizes.append(self._photo_size(thumb))
        sizes.append(self._photo_size(original))
        return sizes

    @staticmethod
    def _photo_size(f: StoredFile) -> JSON:
        return {
            "file_id": f.file_id,
            "file_unique_id": f.file_unique_id,
            "width": f.width or 0,
            "height": f.height or 0,
            "file_size": f.size,
        }

    @staticmethod
    def _document_dict(f: StoredFile) -> JSON:
        data: JSON = {"file_id": f.file_id, "file_unique_id": f.file_unique_id, "file_size": f.size}
        if f.file_name:
            data["file_name"] = f.file_name
        if f.mime_type:
            data["mime_type"] = f.mime_type
        return data

    def _input_file(self, value: Any, kind: str, files: dict[str, UploadedFile], field_name: str) -> StoredFile:
        """Resolve an InputFile or String parameter: attach://name upload, existing file_id or URL."""
        if not isinstance(value, str) or not value:
            raise bad_request(f"there is no {field_name} in the request")
        if value.startswith("attach://"):
            upload = files.get(value[len("attach://") :])
            if upload is None:
                raise bad_request(f"wrong file identifier/HTTP URL specified: file {value} not found in request")
            if len(upload.data) > MAX_UPLOAD:
                raise ApiError(413, "Request Entity Too Large")
            if not upload.data:
                raise bad_request("file must be non-empty")
            mime = upload.content_type
            if not mime or mime == "application/octet-stream":
                mime = mimetypes.guess_type(upload.filename or "")[0] or mime
            name = upload.filename if kind != "photo" else None
            return self._new_file(kind, upload.data, name, mime or "application/octet-stream")
        if value.startswith(("http://", "https://")):
            # The emulator cannot download; it stores a placeholder file for the URL.
            name = value.rsplit("/", 1)[-1] or None
            return self._new_file(kind, b"", name, mimetypes.guess_type(value)[0], check_image=False)
        existing = self._files.get(value)
        if existing is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
        if existing.kind != kind and not (kind == "document" and existing.kind in ("document",)):
            raise bad_request(f"can't use file of type {existing.kind.capitalize()} as {kind.capitalize()}")
        return existing

    # ==========================================================================================================
    # Validation helpers
    # ==========================================================================================================

    def _chat(self, chat_id: Any, for_send: bool = True) -> int:
        """Resolve chat_id and check the bot may write there; returns the numeric id."""
        if isinstance(chat_id, str):
            if chat_id.startswith("@"):
                match = [
                    g.id for g in self._groups.values() if g.username and g.username.lower() == chat_id[1:].lower()
                ]
                if not match:
                    raise bad_request("chat not found")
                chat_id = match[0]
            else:
                try:
                    chat_id = int(chat_id)
                except ValueError:
                    raise bad_request("chat not found") from None
        assert isinstance(chat_id, int)
        if chat_id in self._groups:
            group = self._groups[chat_id]
            if not group.bot_is_member and for_send:
                raise ApiError(403, "Forbidden: bot was kicked from the supergroup chat")
            return chat_id
        user = self._users.get(chat_id)
        if user is None:
            if chat_id == self.bot_id:
                raise ApiError(403, "Forbidden: bot can't send messages to bots")
            raise bad_request("chat not found")
        if for_send:
            if user.deactivated:
                raise ApiError(403, "Forbidden: user is deactivated")
            if user.blocked_bot:
                raise ApiError(403, "Forbidden: bot was blocked by the user")
            if not user.started:
                raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
        elif not user.started:
            raise bad_request("chat not found")
        return chat_id

    def _formatted(self, p: JSON, text_key: str, entities_key: str, caption: bool) -> tuple[str, list[JSON]]:
        raw_text = p.get(text_key) or ""
        if p.get(entities_key) is not None:
            text, entities = raw_text.strip(), list(p[entities_key])
        else:
            try:
                text, entities = parse_text(raw_text, p.get("parse_mode"), strict_html=self.strict_html)
            except EntityParseError as exc:
                raise bad_request(f"can't parse entities: {exc}") from None
            except ValueError:
                raise bad_request("unsupported parse_mode") from None
        for entity in entities:
            if entity.get("type") == "text_mention" and entity["user"].get("id") in self._users:
                entity["user"] = self._users[entity["user"]["id"]].to_dict()
        if caption:
            if len(text) > MAX_CAPTION:
                raise bad_request("media caption is too long")
        else:
            if not text:
                raise bad_request("message text is empty")
            if len(text) > MAX_TEXT:
                raise bad_request("message is too long")
        return text, merge_entities(entities, detect_entities(text))

    def _check_inline_keyboard(self, markup: JSON) -> JSON:
        rows = markup.get("inline_keyboard")
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise bad_request("can't parse inline keyboard markup JSON object")
        clean_rows: list[list[JSON]] = []
        for row in rows:
            clean_row: list[JSON] = []
            for button in row:
                if not isinstance(button, dict):
                    raise bad_request("can't parse inline keyboard button: Object expected")
                text = button.get("text")
                if not isinstance(text, str):
                    raise bad_request('can\'t parse inline keyboard button: Field "text" must be of type String')
                if not text.strip():
                    raise bad_request("BUTTON_TEXT_INVALID")
                actions = [a for a in INLINE_ACTIONS if button.get(a) is not None]
                if not actions:
                    raise bad_request(
                        "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
                    )
                if len(actions) > 1:
                    raise bad_request(
                        f"can't parse inline keyboard button: exactly one of the optional fields "
                        f"must be used, got {actions}"
                    )
                data = button.get("callback_data")
                if data is not None and not (isinstance(data, str) and 1 <= len(data.encode("utf-8")) <= 64):
                    raise bad_request("BUTTON_DATA_INVALID")
                url = button.get("url")
                if url is not None and not (
                    isinstance(url, str) and re.match(r"^(https?://[^\s/]+\.[^\s]*|https?://localhost|tg://)\S*$", url)
                ):
                    raise bad_request("BUTTON_URL_INVALID")
                clean_row.append(
                    {
                        k: v
                        for k, v in button.items()
                        if k == "text" or k in INLINE_ACTIONS or k == "style" or k == "icon_custom_emoji_id"
                    }
                )
            clean_rows.append(clean_row)
        return {"inline_keyboard": clean_rows}

    def _check_reply_keyboard(self, markup: JSON) -> None:
        rows = markup.get("keyboard")
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise bad_request("can't parse reply keyboard markup JSON object")
        for row in rows:
            for button in row:
                text = button if isinstance(button, str) else (button.get("text") if isinstance(button, dict) else None)
                if not isinstance(text, str) or not text.strip():
                    raise bad_request("can't parse keyboard button: Text must be non-empty")
        placeholder = markup.get("input_field_placeholder")
        if placeholder is not None and not 1 <= len(placeholder) <= 64:
            raise bad_request(
                "can't parse reply keyboard markup JSON object: input_field_placeholder must be 1-64 characters"
            )

    def _markup(self, chat_id: int, p: JSON, inline_only: bool = False) -> JSON | None:
        """Validate reply_markup; returns the inline keyboard to attach to the message (or None)."""
        markup = p.get("reply_markup")
        if markup is None:
            return None
        if "inline_keyboard" in markup:
            return self._check_inline_keyboard(markup)
        if inline_only:
            raise bad_request("inline keyboard expected")
        if "keyboard" in markup:
            self._check_reply_keyboard(markup)
            self._reply_keyboards[chat_id] = markup
        elif markup.get("remove_keyboard"):
            self._reply_keyboards[chat_id] = None
        elif markup.get("force_reply"):
            pass
        else:
            raise bad_request("can't parse reply keyboard markup JSON object")
        return None

    def _reply_to(self, chat_id: int, p: JSON) -> JSON | None:
        params = p.get("reply_parameters")
        message_id = p.get("reply_to_message_id")
        allow_missing = bool(p.get("allow_sending_without_reply"))
        target_chat = chat_id
        if params is not None:
            message_id = params.get("message_id")
            allow_missing = bool(params.get("allow_sending_without_reply"))
            if params.get("chat_id") is not None:
                target_chat = self._chat(params["chat_id"], for_send=False)
        if message_id is None:
            return None
        stored = self._messages.get(target_chat, {}).get(int(message_id))
        if stored is None or stored.deleted:
            if allow_missing:
                return None
            raise bad_request("message to be replied not found")
        return self._reply_copy(stored)

    def _rate_check(self, chat_id: int, count: int = 1) -> None:
        if not self.rate_limits:
            return
        cfg = self.rate_limit_config
        now = time.monotonic()
        waits: list[float] = []
        while self._rate_global and now - self._rate_global[0] >= 1.0:
            self._rate_global.popleft()
        if len(self._rate_global) + count > cfg.global_per_second:
            waits.append(1.0 - (now - self._rate_global[0]))
        tokens, last = self._rate_chat.get(chat_id, (float(cfg.per_chat_burst), now))
        tokens = min(float(cfg.per_chat_burst), tokens + (now - last) * cfg.per_chat_per_second)
        if tokens < count:
            waits.append((count - tokens) / cfg.per_chat_per_second)
        window = self._rate_group.setdefault(chat_id, deque()) if chat_id < 0 else None
        if window is not None:
            while window and now - window[0] >= 60.0:
                window.popleft()
            if len(window) + count > cfg.group_per_minute:
                waits.append(60.0 - (now - window[0]))
        if waits:
            retry = max(1, math.ceil(max(waits)))
            raise ApiError(429, f"Too Many Requests: retry after {retry}", {"retry_after": retry})
        self._rate_chat[chat_id] = (tokens - count, now)
        self._rate_global.extend([now] * count)
        if window is not None:
            window.extend([now] * count)

    # ==========================================================================================================
    # Bot API methods
    # ==========================================================================================================

    def _build_handlers(self) -> dict[str, Handler]:
        simple_true = ("logOut", "close", "setChatMenuButton", "setMyDescription", "setMyShortDescription", "setMyName")
        handlers: dict[str, Handler] = {
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "getMe": lambda p, f: {
                **self.bot_user(),
                "can_join_groups": True,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
                "can_connect_to_business": False,
                "has_main_web_app": False,
            },
            "sendMessage": self._send_message,
            "sendPhoto": self._send_photo,
            "sendDocument": self._send_document,
            "sendMediaGroup": self._send_media_group,
            "copyMessage": self._copy_message,
            "forwardMessage": self._forward_message,
            "editMessageText": self._edit_message_text,
            "editMessageCaption": self._edit_message_caption,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "deleteMessages": self._delete_messages,
            "sendChatAction": self._send_chat_action,
            "answerCallbackQuery": self._answer_callback_query,
            "getChat": self._get_chat,
            "getChatMember": self._get_chat_member,
            "getChatAdministrators": self._get_chat_administrators,
            "getChatMemberCount": lambda p, f: (
                len(self._groups[self._chat(p["chat_id"], False)].members) + 1
                if self._chat(p["chat_id"], False) in self._groups
                else 2
            ),
            "getFile": self._get_file,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "getChatMenuButton": lambda p, f: self.menu_buttons.get(p.get("chat_id"), {"type": "commands"}),
            "getMyDescription": lambda p, f: {
                "description": self.descriptions.get(("description", p.get("language_code", "")), "")
            },
            "getMyShortDescription": lambda p, f: {
                "short_description": self.descriptions.get(("short_description", p.get("language_code", "")), "")
            },
            "getMyName": lambda p, f: {
                "name": self.descriptions.get(("name", p.get("language_code", "")), self.bot_first_name)
            },
        }
        for name in simple_true:
            handlers[name] = self._make_setter(name)
        return handlers

    def _make_setter(self, name: str) -> Handler:
        def handler(p: JSON, _f: dict[str, UploadedFile]) -> bool:
            lang = p.get("language_code", "")
            if name == "setChatMenuButton":
                chat = self._chat(p["chat_id"], False) if p.get("chat_id") is not None else None
                self.menu_buttons[chat] = p.get("menu_button") or {"type": "default"}
            elif name == "setMyDescription":
                value = p.get("description", "")
                if len(value) > 512:
                    raise bad_request("description is too long")
                self.descriptions[("description", lang)] = value
            elif name == "setMyShortDescription":
                value = p.get("short_description", "")
                if len(value) > 120:
                    raise bad_request("short description is too long")
                self.descriptions[("short_description", lang)] = value
            elif name == "setMyName":
                value = p.get("name", "")
                if len(value) > 64:
                    raise bad_request("name is too long")
                self.descriptions[("name", lang)] = value
            return True

        return handler

    def _bot_send(self, chat_id: int, p: JSON, content: JSON, inline: JSON | None) -> JSON:
        raw = self._new_message(chat_id, self.bot_user())
        reply = self._reply_to(chat_id, p)
        if reply is not None:
            raw["reply_to_message"] = reply
        raw.update(content)
        if inline is not None and inline.get("inline_keyboard"):
            raw["reply_markup"] = inline
        self._store(chat_id, raw, from_bot=True, from_user_id=None)
        return raw

    def _send_message(self, p: JSON, _f: dict[str, UploadedFile]) -> JSON:
        chat_id = self._chat(p["chat_id"])
        text, entities = self._formatted(p, "text", "entities", caption=False)
        inline = self._markup(chat_id, p)
        self._reply_to(chat_id, p)
        self._rate_check(chat_id)
        content: JSON = {"text": text}
        if entities:
            content["entities"] = entities
        if p.get("link_preview_options"):
            content["link_preview_options"] = p["link_preview_options"]
        return self._bot_send(chat_id, p, content, inline)

    def _caption_content(self, p: JSON) -> JSON:
        content: JSON = {}
        if p.get("caption"):
            caption, entities = self._formatted(p, "caption", "caption_entities", caption=True)
            if caption:
                content["caption"] = caption
                if entities:
                    content["caption_entities"] = entities
        return content

    def _send_photo(self, p: JSON, files: dict[str, UploadedFile]) -> JSON:
        chat_id = self._chat(p["chat_id"])
        content = self._caption_content(p)
        inline = self._markup(chat_id, p)
        self._reply_to(chat_id, p)
        stored = self._input_file(p["photo"], "photo", files, "photo")
        self._rate_check(chat_id)
        content["photo"] = self._photo_sizes(stored)
        return self._bot_send(chat_id, p, content, inline)

    def _send_document(self, p: JSON, files: dict[str, UploadedFile]) -> JSON:
        chat_id = self._chat(p["chat_id"])
        content = self._caption_content(p)
        inline = self._markup(chat_id, p)
        self._reply_to(chat_id, p)
        stored = self._input_file(p["document"], "document", files, "document")
        self._rate_check(chat_id)
        content["document"] = self._document_dict(stored)
        return self._bot_send(chat_id, p, content, inline)

    def _send_media_group(self, p: JSON, files: dict[str, UploadedFile]) -> list[JSON]:
        chat_id = self._chat(p["chat_id"])
        media = p["media"]
        if len(media) < 2:
            raise bad_request("there must be at least 2 media in a media group")
        if len(media) > 10:
            raise bad_request("too many messages to send as an album")
        kinds = {item.get("type") for item in media}
        if not kinds <= {"photo", "video", "document", "audio"}:
            raise bad_request(f"unsupported media type in the album: {sorted(str(k) for k in kinds)}")
        if len(kinds) > 1 and ("document" in kinds or "audio" in kinds):
            raise bad_request("documents and audio can't be mixed with other media types in an album")
        self._reply_to(chat_id, p)
        prepared: list[JSON] = []
        for item in media:
            content = self._caption_content(item)
            kind = item["type"]
            stored = self._input_file(item.get("media"), kind, files, "media")
            if kind == "photo":
                content["photo"] = self._photo_sizes(stored)
            else:
                content[kind] = self._document_dict(stored)
            prepared.append(content)
        self._rate_check(chat_id, len(prepared))
        group_id = str(next(self._media_group_counter))
        return [self._bot_send(chat_id, p, {**content, "media_group_id": group_id}, None) for content in prepared]

    def _source_message(self, p: JSON, what: str) -> StoredMessage:
        from_chat = self._chat(p["from_chat_id"], for_send=False)
        stored = self._messages.get(from_chat, {}).get(int(p["message_id"]))
        if stored is None or stored.deleted:
            raise bad_request(f"message to {what} not found")
        return stored

    _CONTENT_KEYS = ("text", "entities", "caption", "caption_entities", "photo", "document", "video", "audio")

    def _copy_message(self, p: JSON, _f: dict[str, UploadedFile]) -> JSON:
        chat_id = self._chat(p["chat_id"])
        source = self._source_message(p, "copy")
        content = {k: v for k, v in source.raw.items() if k in self._CONTENT_KEYS}
        if not content:
            raise bad_request("message can't be copied")
        if "caption" in p:
            content.pop("caption", None)
            content.pop("caption_entities", None)
            if "text" in content:
                raise bad_request("there is no caption in the message to edit")
            content.update(self._caption_content(p))
        inline = self._markup(chat_id, p)
        self._rate_check(chat_id)
        raw = self._bot_send(chat_id, p, content, inline)
        return {"message_id": raw["message_id"]}

    def _forward_message(self, p: JSON, _f: dict[str, UploadedFile]) -> JSON:
        chat_id = self._chat(p["chat_id"])
        source = self._source_message(p, "forward")
        content = {k: v for k, v in source.raw.items() if k in self._CONTENT_KEYS}
        if not content:
            raise bad_request("message can't be forwarded")
        origin = source.raw.get("forward_origin") or {
            "type": "user",
            "date": source.raw["date"],
            "sender_user": source.raw["from"],
        }
        content["forward_origin"] = origin
        self._rate_check(chat_id)
        return self._bot_send(chat_id, {}, content, None)

    def _editable(self, p: JSON) -> StoredMessage:
        if p.get("inline_message_id"):
            raise ApiError(501, "Not Implemented: inline messages are not supported by the emulator")
        if p.get("chat_id") is None:
            raise bad_request("chat_id is empty")
        if p.get("message_id") is None:
            raise bad_request("message identifier is not specified")
        chat_id = self._chat(p["chat_id"])
        stored = self._messages.get(chat_id, {}).get(int(p["message_id"]))
        if stored is None or stored.deleted:
            raise bad_request("message to edit not found")
        if not stored.from_bot:
            raise bad_request("message can't be edited")
        return stored

    def _apply_edit(self, stored: StoredMessage, changes: JSON, remove: tuple[str, ...]) -> JSON:
        new = dict(stored.raw)
        for key in remove:
            new.pop(key, None)
        new.update({k: v for k, v in changes.items() if v is not None})
        comparable = ("text", "entities", "caption", "caption_entities", "reply_markup")
        if all(new.get(k) == stored.raw.get(k) for k in comparable):
            raise bad_request(NOT_MODIFIED[len("Bad Request: ") :])
        new["edit_date"] = _now()
        stored.history.append(stored.raw)
        stored.raw = new
        stored.edited = True
        return new

    def _edit_message_text(self, p: JSON, _f: dict[str, UploadedFile]) -> JSON:
        stored = self._editable(p)
        if "text" not in stored.raw:
            raise bad_request("there is no text in the message to edit")
        text, entities = self._formatted(p, "text", "entities", caption=False)
        inline = self._markup(stored.chat_id, p, inline_only=True)
        return self._apply_edit(
            stored, {"text": text, "entities": entities or None, "reply_markup": inline}, ("entities", "reply_markup")
        )

    def _edit_message_caption(self, p: JSON, _f: dict[str, UploadedFile]) -> JSON:
        stored = self._editable(p)
        if "text" in stored.raw:
            raise bad_request("there is no caption in the message to edit")
        content = self._caption_content(p)
        inline = self._markup(stored.chat_id, p, inline_only=True)
        return self._apply_edit(
            stored, {**content, "reply_markup": inline}, ("caption", "caption_entities", "reply_markup")
        )

    def _edit_message_reply_markup(self, p: JSON, _f: dict[str, UploadedFile]) -> JSON:
        stored = self._editable(p)
        inline = self._markup(stored.chat_id, p, inline_only=True)
        if inline is not None and not inline["inline_keyboard"]:
            inline = None
        return self._apply_edit(stored, {"reply_markup": inline}, ("reply_markup",))

    def _deletable(self, chat_id: int, message_id: int) -> StoredMessage | None:
        stored = self._messages.get(chat_id, {}).get(message_id)
        if stored is None or stored.deleted:
            return None
        group = self._groups.get(chat_id)
        if group is not None and not stored.from_bot and not group.bot_is_admin:
            raise bad_request("message can't be deleted")
        return stored

    def _delete_message(self, p: JSON, _f: dict[str, UploadedFile]) -> bool:
        chat_id = self._chat(p["chat_id"], for_send=False)
        stored = self._deletable(chat_id, int(p["message_id"]))
        if stored is None:
            raise bad_request("message to delete not found")
        stored.deleted = True
        return True

    def _delete_messages(self, p: JSON, _f: dict[str, UploadedFile]) -> bool:
        chat_id = self._chat(p["chat_id"], for_send=False)
        ids = p["message_ids"]
        if not 1 <= len(ids) <= 100:
            raise bad_request("message_ids must contain 1-100 identifiers")
        for mid in ids:
            with contextlib.suppress(ApiError):
                stored = self._deletable(chat_id, int(mid))
                if stored is not None:
                    stored.deleted = True
        return True

    def _send_chat_action(self, p: JSON, _f: dict[str, UploadedFile]) -> bool:
        self._chat(p["chat_id"])
        if p["action"] not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        return True

    def _answer_callback_query(self, p: JSON, _f: dict[str, UploadedFile]) -> bool:
        handle = self._callbacks.get(p["callback_query_id"])
        if handle is None or handle.answered or not handle.delivered:
            raise bad_request(QUERY_TOO_OLD[len("Bad Request: ") :])
        if time.monotonic() - handle.created_at > self.callback_answer_timeout:
            raise bad_request(QUERY_TOO_OLD[len("Bad Request: ") :])
        text = p.get("text")
        if text is not None and len(text) > MAX_CALLBACK_ANSWER:
            raise bad_request("MESSAGE_TOO_LONG")
        handle.answer = CallbackAnswer(text, bool(p.get("show_alert")), p.get("url"), p.get("cache_time"))
        return True

    def _get_chat(self, p: JSON, _f: dict[str, UploadedFile]) -> JSON:
        chat_id = self._chat(p["chat_id"], for_send=False)
        info = self._chat_dict(chat_id)
        info.update(
            {
                "accent_color_id": 0,
                "max_reaction_count": 11,
                "accepted_gift_types": {
                    "unlimited_gifts": False,
                    "limited_gifts": False,
                    "unique_gifts": False,
                    "premium_subscription": False,
                    "gifts_from_channels": False,
                },
            }
        )
        return info

    @staticmethod
    def _admin_member(user: JSON) -> JSON:
        rights = (
            "can_manage_chat",
            "can_delete_messages",
            "can_manage_video_chats",
            "can_restrict_members",
            "can_change_info",
            "can_invite_users",
            "can_post_stories",
            "can_edit_stories",
            "can_delete_stories",
            "can_pin_messages",
            "can_send_welcome_messages",
        )
        data: JSON = {
            "status": "administrator",
            "user": user,
            "can_be_edited": False,
            "is_anonymous": False,
            "can_promote_members": False,
        }
        data.update(dict.fromkeys(rights, True))
        return data

    def _member_dict(self, group: SimGroup, user_id: int) -> JSON:
        if user_id == self.bot_id:
            if not group.bot_is_member:
                return {"status": "left", "user": self.bot_user()}
            return (
                self._admin_member(self.bot_user())
                if group.bot_is_admin
                else {"status": "member", "user": self.bot_user()}
            )
        user = self._users.get(user_id)
        if user is None:
            raise bad_request("user not found")
        if user_id not in group.members:
            return {"status": "left", "user": user.to_dict()}
        if user_id == group.owner_id:
            return {"status": "creator", "user": user.to_dict(), "is_anonymous": False}
        if user_id in group.admin_ids:
            return self._admin_member(user.to_dict())
        return {"status": "member", "user": user.to_dict()}

    def _get_chat_member(self, p: JSON, _f: dict[str, UploadedFile]) -> JSON:
        chat_id = self._chat(p["chat_id"], for_send=False)
        user_id = int(p["user_id"])
        group = self._groups.get(chat_id)
        if group is not None:
            return self._member_dict(group, user_id)
        if user_id == self.bot_id:
            return {"status": "member", "user": self.bot_user()}
        user = self._users.get(user_id)
        if user is None or user_id != chat_id:
            raise bad_request("user not found")
        return {"status": "member", "user": user.to_dict()}

    def _get_chat_administrators(self, p: JSON, _f: dict[str, UploadedFile]) -> list[JSON]:
        chat_id = self._chat(p["chat_id"], for_send=False)
        group = self._groups.get(chat_id)
        if group is None:
            raise bad_request("there are no administrators in the private chat")
        ids = ([group.owner_id] if group.owner_id else []) + sorted(group.admin_ids - {group.owner_id})
        result = [self._member_dict(group, uid) for uid in ids if uid in group.members]
        if group.bot_is_admin and group.bot_is_member:
            result.append(self._member_dict(group, self.bot_id))
        return result

    def _get_file(self, p: JSON, _f: dict[str, UploadedFile]) -> JSON:
        stored = self._files.get(p["file_id"])
        if stored is None:
            raise bad_request("invalid file_id")
        if stored.size > MAX_DOWNLOAD:
            raise bad_request("file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.size,
            "file_path": self._file_path(stored),
        }

    def _scope_key(self, scope: JSON | None) -> str:
        if not scope:
            return "default"
        kind = scope.get("type")
        if kind in ("default", "all_private_chats", "all_group_chats", "all_chat_administrators"):
            return str(kind)
        if kind in ("chat", "chat_administrators", "chat_member"):
            if scope.get("chat_id") is None:
                raise bad_request("can't parse BotCommandScope: chat_id is empty")
            chat_id = self._chat(scope["chat_id"], for_send=False)
            if kind == "chat_member":
                if scope.get("user_id") is None:
                    raise bad_request("can't parse BotCommandScope: user_id is empty")
                return f"chat_member:{chat_id}:{int(scope['user_id'])}"
            return f"{kind}:{chat_id}"
        raise bad_request("wrong BotCommandScope type specified")

    def _set_my_commands(self, p: JSON, _f: dict[str, UploadedFile]) -> bool:
        commands = p["commands"]
        if len(commands) > 100:
            raise bad_request("too many commands specified")
        clean: list[JSON] = []
        for cmd in commands:
            name, description = cmd.get("command"), cmd.get("description")
            if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9_]{1,32}", name):
                raise bad_request("BOT_COMMAND_INVALID")
            if not isinstance(description, str) or not 1 <= len(description) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
            clean.append({"command": name, "description": description})
        key = (self._scope_key(p.get("scope")), p.get("language_code", ""))
        if clean:
            self.commands[key] = clean
        else:
            self.commands.pop(key, None)
        return True

    def _get_my_commands(self, p: JSON, _f: dict[str, UploadedFile]) -> list[JSON]:
        return self.commands.get((self._scope_key(p.get("scope")), p.get("language_code", "")), [])

    def _delete_my_commands(self, p: JSON, _f: dict[str, UploadedFile]) -> bool:
        self.commands.pop((self._scope_key(p.get("scope")), p.get("language_code", "")), None)
        return True
