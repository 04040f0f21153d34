"""Rendering rules that users rely on: long texts are split, user text is escaped, dates in the local zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.states import Priority, State
from bot.i18n import make_i18n
from bot.render import MESSAGE_LIMIT, card, history, split_text
from bot.services.dto import DepartmentInfo, HistoryItem, OrderCard

MSK = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
LOCALES = Path(__file__).resolve().parents[2] / "locales"


@given(st.lists(st.text(alphabet=st.characters(blacklist_characters="\n"), max_size=300), max_size=60))
def test_split_keeps_every_line_and_respects_the_limit(lines: list[str]) -> None:
    text = "\n".join(lines)
    parts = split_text(text, limit=500)
    assert all(len(p) <= 500 for p in parts)
    assert "\n".join(parts).replace("\n", "") == text.replace("\n", "")


def test_a_long_history_becomes_several_messages(i18n) -> None:  # type: ignore[no-untyped-def]
    items = [
        HistoryItem(NOW + timedelta(minutes=i), "Иванов Иван", "comment", {"comment": "ок " * 40}) for i in range(60)
    ]
    text = history("П-2026-000001", items, MSK)
    assert len(text) > MESSAGE_LIMIT
    parts = split_text(text)
    assert len(parts) >= 2 and all(len(p) <= MESSAGE_LIMIT for p in parts)


@pytest.fixture
def i18n():  # type: ignore[no-untyped-def]
    i = make_i18n(LOCALES, "ru")
    with i.context():
        yield i


def _card(**kw: object) -> OrderCard:
    dept = DepartmentInfo(1, "ROADS", "Отдел транспорта", "Transport and roads division", None, None)
    base: dict[str, object] = dict(
        id=1,
        number="П-2026-000001",
        title="<b>Снег</b> & лёд",
        text="<script>x</script>",
        priority=Priority.URGENT,
        state=State.NEW,
        due_at=NOW + timedelta(days=1, hours=6),
        created_at=NOW,
        closed_at=None,
        overdue=False,
        version=1,
        issuer_name="Яковлев <Е.Ю.>",
        issuer_department=dept,
        executor_department=dept,
        executor_name=None,
        controller_name=None,
        parent_number=None,
        parent_id=None,
    )
    base.update(kw)
    return OrderCard(**base)  # type: ignore[arg-type]


def test_card_escapes_user_text_and_shows_local_time(i18n) -> None:  # type: ignore[no-untyped-def]
    with i18n.use_locale("ru"):
        text = card(_card(), NOW, MSK)
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert "&lt;b&gt;Снег&lt;/b&gt; &amp; лёд" in text
    assert "29 ноября 2026, 18:00" in text  # 15:00 UTC is 18:00 in Moscow
    assert "через 1 день" in text or "через 30 часов" in text
    with i18n.use_locale("en"):
        text = card(_card(), NOW, MSK)
    assert "29 November 2026, 18:00" in text and "Urgent" in text


def test_overdue_card_says_by_how_much(i18n) -> None:  # type: ignore[no-untyped-def]
    with i18n.use_locale("ru"):
        text = card(_card(due_at=NOW - timedelta(hours=3), overdue=True, state=State.IN_PROGRESS), NOW, MSK)
    assert "просрочено на 3 часа" in text
