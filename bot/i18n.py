"""Translations: Babel catalogs in locales/<lang>/LC_MESSAGES/messages.po, compiled on start when stale,
and locale-aware date formatting in the municipality's time zone."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from aiogram.utils.i18n import I18n
from babel.dates import format_datetime, format_timedelta
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

DOMAIN = "messages"


def compile_catalogs(path: Path) -> None:
    """Compile every messages.po whose messages.mo is missing or older (no separate build step needed)."""
    for po in path.glob(f"*/LC_MESSAGES/{DOMAIN}.po"):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as f:
            catalog = read_po(f, locale=po.parent.parent.name)
        with mo.open("wb") as f:
            write_mo(f, catalog)


def make_i18n(path: Path, default_locale: str) -> I18n:
    compile_catalogs(path)
    return I18n(path=path, default_locale=default_locale, domain=DOMAIN)


def current_locale() -> str:
    i18n = I18n.get_current(no_error=True)
    return i18n.current_locale if i18n is not None else "ru"


def fmt_datetime(value: datetime, tz: ZoneInfo) -> str:
    """28 ноября 2026, 18:00 / 28 November 2026, 18:00, in the municipality's zone."""
    return format_datetime(value, "d MMMM y, HH:mm", tzinfo=tz, locale=current_locale())


def fmt_short(value: datetime, tz: ZoneInfo) -> str:
    """dd.MM HH:mm: compact, for lists and history."""
    return format_datetime(value, "dd.MM HH:mm", tzinfo=tz, locale=current_locale())


def fmt_delta(delta: timedelta) -> str:
    """'2 days', '3 hours' in the current language."""
    return format_timedelta(abs(delta), threshold=1.1, locale=current_locale())
