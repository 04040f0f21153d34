"""What services need from the application besides the unit of work: the clock and a few settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from bot.clock import Clock, SystemClock


@dataclass(frozen=True)
class AppContext:
    clock: Clock = field(default_factory=SystemClock)
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("Europe/Moscow"))
    number_prefix: str = "П"
    default_locale: str = "ru"
    admin_telegram_ids: frozenset[int] = frozenset()
