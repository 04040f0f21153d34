"""Deadline arithmetic: parsing typed deadlines, quick choices, overdue. The single place for these rules.

All inputs and outputs are aware datetimes; deadlines are stored in UTC and interpreted in the
municipality's time zone.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from bot.domain.errors import BadDeadline
from bot.domain.states import FINAL_STATES, State

# When only a date is given, the order is due at the end of the working day.
END_OF_DAY = time(18, 0)

_DATE_TIME = re.compile(
    r"^\s*(?P<d>\d{1,2})[./-](?P<m>\d{1,2})(?:[./-](?P<y>\d{2}|\d{4}))?"
    r"(?:\s*(?:,|в|at)?\s*(?P<H>\d{1,2})[:.](?P<M>\d{2}))?\s*$",
    re.IGNORECASE,
)
# Only a colon makes a bare time: "25.12" is a date.
_TIME_ONLY = re.compile(r"^\s*(?P<H>\d{1,2}):(?P<M>\d{2})\s*$")


class Quick(StrEnum):
    TODAY = "today"
    TOMORROW = "tomorrow"
    IN_3_DAYS = "d3"
    IN_A_WEEK = "w1"


def _local(now: datetime, tz: ZoneInfo) -> datetime:
    return now.astimezone(tz)


def _at(day: datetime, t: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day.date(), t, tzinfo=tz).astimezone(UTC)


def quick_deadline(choice: Quick, now: datetime, tz: ZoneInfo) -> datetime:
    """Today/tomorrow/in 3 days/in a week, at the end of the working day (today: end of day if already past)."""
    local = _local(now, tz)
    days = {Quick.TODAY: 0, Quick.TOMORROW: 1, Quick.IN_3_DAYS: 3, Quick.IN_A_WEEK: 7}[choice]
    due = _at(local + timedelta(days=days), END_OF_DAY, tz)
    if due <= now:
        due = _at(local, time(23, 59), tz)
    if due <= now:
        raise BadDeadline("past")
    return due


def parse_deadline(text: str, now: datetime, tz: ZoneInfo) -> datetime:
    """Parse `25.12 18:00`, `25.12.2026`, `25.12.26 9:30`, `18:00` (today). Returns UTC; refuses past moments.

    A date without a year means the next such date from today (so `10.01` typed in December is next January).
    """
    local = _local(now, tz)
    if m := _TIME_ONLY.match(text):
        hour, minute = int(m["H"]), int(m["M"])
        day, month, year = local.day, local.month, local.year
        explicit_year = True
    elif m := _DATE_TIME.match(text):
        day, month = int(m["d"]), int(m["m"])
        explicit_year = m["y"] is not None
        year = int(m["y"]) if explicit_year else local.year
        if explicit_year and year < 100:
            year += 2000
        hour, minute = (int(m["H"]), int(m["M"])) if m["H"] else (END_OF_DAY.hour, END_OF_DAY.minute)
    else:
        raise BadDeadline("unparseable")
    if not explicit_year and (month, day) == (2, 29):
        # The next 29 February from today.
        while not calendar.isleap(year) or (year == local.year and (month, day) < (local.month, local.day)):
            year += 1
    try:
        due_local = datetime(year, month, day, hour, minute, tzinfo=tz)
        if not explicit_year and due_local.date() < local.date():
            due_local = due_local.replace(year=year + 1)
    except ValueError:
        raise BadDeadline("unparseable") from None
    due = due_local.astimezone(UTC)
    if due <= now:
        raise BadDeadline("past")
    return due


def is_overdue(due_at: datetime | None, state: State, now: datetime) -> bool:
    """Derived, never stored: the deadline passed and the order is not finished."""
    return due_at is not None and state not in FINAL_STATES and due_at < now


def extend(due_at: datetime, new_due: datetime, now: datetime) -> datetime:
    """A new deadline must lie in the future and after the current one."""
    if new_due <= now or new_due <= due_at:
        raise BadDeadline("past")
    return new_due
