"""The same flows in the other deployments: webhook delivery, PostgreSQL, dialog state in Redis."""

from __future__ import annotations

import pytest

from bot.domain.states import Action
from bot.render import action_label
from tests.conftest import BotEnv

GLAVA_HEAD = 100000001


@pytest.mark.parametrize("bot_env", ["webhook", "postgres", "redis"], indirect=True)
async def test_issue_accept_and_report_in_every_deployment(bot_env: BotEnv) -> None:
    env = bot_env
    issuer = await env.started(GLAVA_HEAD, language_code="en")
    roads_head = await env.started(env.head_of("ROADS"))
    # A dialog step survives in the configured storage (the database or Redis).
    await env.draft_to_roads(issuer)
    await issuer.send_text("Repaint the pedestrian crossings on Mira avenue")
    await env.idle()
    for label in ("Next", "In 3 days", "High", "No control", "Issue"):
        await issuer.press(env.last(issuer.id), label)
        await env.idle()
    number = next(w for w in env.last(issuer.id).content.split() if w.startswith("П-2026-"))
    card = env.card_in(roads_head.id, number)
    await roads_head.press(card, env.ru(lambda: action_label(Action.ACCEPT)))
    await env.idle()
    await roads_head.press(env.emu.message(roads_head.id, card.message_id), env.ru(lambda: "Принять, назначить позже"))
    await env.idle()
    assert "accepted" in env.last(issuer.id).content
    if env.settings.webhook.url:
        hook = env.emu.calls("setWebhook")[-1].params
        assert hook["secret_token"] == "e2e-secret" and hook["url"].endswith("/telegram/webhook")
        assert not env.emu.calls("getUpdates")[1:], "in webhook mode the bot must not poll"
