"""Starting the bot as in production: migrate, set the command menus, run the sender, poll or serve a webhook."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiogram import Bot
from aiogram.types import BotCommand, BotCommandScopeAllGroupChats, BotCommandScopeAllPrivateChats
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.app import App, make_bot, setup_dispatcher
from bot.clock import Clock
from bot.config import Settings
from bot.sender import OutboxSender
from storage.migrate import upgrade_async

log = logging.getLogger(__name__)


def private_commands() -> list[BotCommand]:
    return [
        BotCommand(command="new", description=_("Issue a new order")),
        BotCommand(command="inbox", description=_("Orders addressed to me and my department")),
        BotCommand(command="outbox", description=_("Orders issued by me and my department")),
        BotCommand(command="control", description=_("Orders on control")),
        BotCommand(command="order", description=_("Open an order by its number")),
        BotCommand(command="find", description=_("Search orders by text")),
        BotCommand(command="invite", description=_("Invite an employee")),
        BotCommand(command="lang", description=_("Change the language")),
        BotCommand(command="cancel", description=_("Abandon the current dialog")),
        BotCommand(command="help", description=_("How it works")),
    ]


def group_commands() -> list[BotCommand]:
    return [
        BotCommand(command="bind", description=_("Make this the department's chat")),
        BotCommand(command="help", description=_("How it works")),
    ]


async def set_commands(bot: Bot, i18n: I18n) -> None:
    """Command menus per scope: private chats and groups, in Russian (default) and English."""
    for lang in i18n.available_locales:
        with i18n.context(), i18n.use_locale(lang):
            code = None if lang == i18n.default_locale else lang
            await bot.set_my_commands(private_commands(), scope=BotCommandScopeAllPrivateChats(), language_code=code)
            await bot.set_my_commands(group_commands(), scope=BotCommandScopeAllGroupChats(), language_code=code)


async def run_bot(
    settings: Settings,
    *,
    clock: Clock | None = None,
    bot: Bot | None = None,
    handle_signals: bool = True,
    migrate: bool = True,
    app: App | None = None,
) -> None:
    if migrate:
        await upgrade_async(settings.database_url)
    app = app or setup_dispatcher(settings, clock=clock)
    bot = bot or make_bot(settings)
    sender = OutboxSender(bot, app.session_factory, app.ctx, app.i18n, poll_interval=settings.outbox_poll_interval)
    app.wake_sender.append(sender.wake)
    await set_commands(bot, app.i18n)
    sender_task = asyncio.create_task(sender.run(), name="outbox-sender")
    try:
        if settings.webhook.url:
            await _serve_webhook(app, bot, settings)
        else:
            await bot.delete_webhook(drop_pending_updates=False)
            await app.dispatcher.start_polling(
                bot,
                handle_signals=handle_signals,
                allowed_updates=app.dispatcher.resolve_used_update_types(),
                # Bounded concurrency: past a few dozen updates in flight the event loop only gets slower for
                # all of them (and a writer waits longer for its turn).
                tasks_concurrency_limit=settings.max_concurrent_updates,
            )
    finally:
        sender.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await sender_task
        await bot.session.close()
        await app.engine.dispose()


async def _serve_webhook(app: App, bot: Bot, settings: Settings) -> None:
    """Webhook mode: an aiohttp server behind a reverse proxy; Telegram posts updates to it."""
    from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
    from aiohttp import web

    secret = settings.webhook.secret.get_secret_value() or None
    web_app = web.Application()
    SimpleRequestHandler(dispatcher=app.dispatcher, bot=bot, secret_token=secret).register(
        web_app, path=settings.webhook.path
    )
    setup_application(web_app, app.dispatcher, bot=bot)
    await bot.set_webhook(
        settings.webhook.url.rstrip("/") + settings.webhook.path,
        secret_token=secret,
        allowed_updates=app.dispatcher.resolve_used_update_types(),
    )
    runner = web.AppRunner(web_app)
    await runner.setup()
    site = web.TCPSite(runner, settings.webhook.host, settings.webhook.port)
    await site.start()
    log.info("webhook server on %s:%s", settings.webhook.host, settings.webhook.port)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
