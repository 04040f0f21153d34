"""Deadline arithmetic: typed deadlines, quick choices, time zones, overdue and extensions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from bot.domain.deadlines import END_OF_DAY, Quick, extend, is_overdue, parse_deadline, quick_deadline
from bot.domain.errors import BadDeadline
from bot.domain.states import State

MSK = ZoneInfo("Europe/Moscow")
BERLIN = ZoneInfo("Europe/Berlin")
# Saturday 28 November 2026, 12:00 in Moscow (UTC+3 all year round).
NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("25.12 18:00", utc(2026, 12, 25, 15, 0)),
        ("25.12.2026", utc(2026, 12, 25, 15, 0)),  # a date alone: the end of the working day
        ("25.12.26 9:30", utc(2026, 12, 25, 6, 30)),
        ("25.12.2026 09:30", utc(2026, 12, 25, 6, 30)),
        ("25/12/2026 9.30", utc(2026, 12, 25, 6, 30)),
        ("25-12 18:00", utc(2026, 12, 25, 15, 0)),
        ("25.12 в 10:15", utc(2026, 12, 25, 7, 15)),
        ("25.12, 10:15", utc(2026, 12, 25, 7, 15)),
        ("  1.12  ", utc(2026, 12, 1, 15, 0)),
        ("25.12", utc(2026, 12, 25, 15, 0)),
        ("18:00", utc(2026, 11, 28, 15, 0)),  # today
        ("12:01", utc(2026, 11, 28, 9, 1)),
        ("23:59", utc(2026, 11, 28, 20, 59)),
        ("28.11", utc(2026, 11, 28, 15, 0)),  # today, end of day still ahead
        ("28.11 18:00", utc(2026, 11, 28, 15, 0)),
        ("27.11 10:00", utc(2027, 11, 27, 7, 0)),  # yesterday without a year: next year's
        ("27.11", utc(2027, 11, 27, 15, 0)),
        ("5.1", utc(2027, 1, 5, 15, 0)),
        ("1.1.2027 0:00", utc(2026, 12, 31, 21, 0)),  # midnight Moscow is the previous day in UTC
    ],
)
def test_parse_formats(text: str, expected: datetime) -> None:
    due = parse_deadline(text, NOW, MSK)
    assert due == expected
    assert due.tzinfo is not None and due.utcoffset() == timedelta(0)


def test_date_without_year_typed_in_december_rolls_into_next_year() -> None:
    december = datetime(2026, 12, 20, 9, 0, tzinfo=UTC)
    assert parse_deadline("5.1", december, MSK) == utc(2027, 1, 5, 15, 0)
    assert parse_deadline("05.01 09:00", december, MSK) == utc(2027, 1, 5, 6, 0)
    # A date later this month stays in this year.
    assert parse_deadline("25.12 18:00", december, MSK) == utc(2026, 12, 25, 15, 0)


def test_year_less_date_with_two_digit_month_in_december() -> None:
    december = datetime(2026, 12, 20, 9, 0, tzinfo=UTC)
    assert parse_deadline("10.01", december, MSK) == utc(2027, 1, 10, 15, 0)
    assert parse_deadline("25.12", december, MSK) == utc(2026, 12, 25, 15, 0)


@pytest.mark.parametrize(
    "text",
    ["", "   ", "завтра", "abc", "25.12.2026 25:00", "24:00", "12:60", "32.12", "31.11", "25.13", "25.12.202",
     "25.12 18", "18", "25..12", "25.12.2026 18:00 extra", "1.2.3.4", "0.12.2026", "31.11 10:00",
     ("0.12")],
)  # fmt: skip
def test_garbage_is_unparseable(text: str) -> None:
    with pytest.raises(BadDeadline) as e:
        parse_deadline(text, NOW, MSK)
    assert e.value.reason == "unparseable"


@pytest.mark.parametrize(
    "text", ["25.12.2025", "28.11 11:59", "28.11 12:00", "12:00", "09:00", "1.1.2026 10:00", "1.1.26"]
)
def test_past_moments_are_refused(text: str) -> None:
    with pytest.raises(BadDeadline) as e:
        parse_deadline(text, NOW, MSK)
    assert e.value.reason == "past"


def test_time_is_read_in_the_municipality_zone() -> None:
    assert parse_deadline("25.12.2026 18:00", NOW, MSK) == utc(2026, 12, 25, 15, 0)
    assert parse_deadline("25.12.2026 18:00", NOW, ZoneInfo("Asia/Yekaterinburg")) == utc(2026, 12, 25, 13, 0)
    assert parse_deadline("25.12.2026 18:00", NOW, ZoneInfo("UTC")) == utc(2026, 12, 25, 18, 0)
    # Moscow keeps UTC+3 in summer too (no DST), Berlin switches to UTC+2.
    assert parse_deadline("15.07.2027 18:00", NOW, MSK) == utc(2027, 7, 15, 15, 0)
    assert parse_deadline("15.07.2027 18:00", NOW, BERLIN) == utc(2027, 7, 15, 16, 0)


def test_today_is_the_local_day_not_the_utc_day() -> None:
    # 22:30 UTC on the 28th is already 01:30 on the 29th in Moscow.
    late = utc(2026, 11, 28, 22, 30)
    assert parse_deadline("18:00", late, MSK) == utc(2026, 11, 29, 15, 0)
    assert parse_deadline("29.11 18:00", late, MSK) == utc(2026, 11, 29, 15, 0)
    with pytest.raises(BadDeadline, match="past"):
        parse_deadline("01:00", late, MSK)


# --- quick choices ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        (Quick.TODAY, utc(2026, 11, 28, 15, 0)),
        (Quick.TOMORROW, utc(2026, 11, 29, 15, 0)),
        (Quick.IN_3_DAYS, utc(2026, 12, 1, 15, 0)),
        (Quick.IN_A_WEEK, utc(2026, 12, 5, 15, 0)),
    ],
)
def test_quick_choices_at_noon(choice: Quick, expected: datetime) -> None:
    assert quick_deadline(choice, NOW, MSK) == expected


def test_quick_today_after_the_working_day_is_the_end_of_the_day() -> None:
    evening = utc(2026, 11, 28, 16, 0)  # 19:00 Moscow
    assert quick_deadline(Quick.TODAY, evening, MSK) == utc(2026, 11, 28, 20, 59)
    assert quick_deadline(Quick.TOMORROW, evening, MSK) == utc(2026, 11, 29, 15, 0)


def test_quick_today_in_the_last_minute_is_refused() -> None:
    with pytest.raises(BadDeadline) as e:
        quick_deadline(Quick.TODAY, utc(2026, 11, 28, 20, 59, 30), MSK)  # 23:59:30 Moscow
    assert e.value.reason == "past"
    assert quick_deadline(Quick.TOMORROW, utc(2026, 11, 28, 20, 59, 30), MSK) == utc(2026, 11, 29, 15, 0)


def test_quick_choices_across_midnight_use_the_local_date() -> None:
    after_midnight = utc(2026, 11, 28, 21, 30)  # 00:30 on the 29th in Moscow, still the 28th in UTC
    assert quick_deadline(Quick.TODAY, after_midnight, MSK) == utc(2026, 11, 29, 15, 0)
    assert quick_deadline(Quick.TOMORROW, after_midnight, MSK) == utc(2026, 11, 30, 15, 0)
    assert quick_deadline(Quick.IN_A_WEEK, utc(2026, 12, 31, 22, 0), MSK) == utc(2027, 1, 8, 15, 0)


def test_quick_week_across_a_dst_change() -> None:
    # Europe switches to summer time on 29 March 2027; Moscow does not.
    before = utc(2027, 3, 25, 9, 0)
    assert quick_deadline(Quick.IN_A_WEEK, before, MSK) == utc(2027, 4, 1, 15, 0)
    assert quick_deadline(Quick.TODAY, before, MSK) == utc(2027, 3, 25, 15, 0)
    # In a zone with DST the working day still ends at 18:00 local time: one hour earlier in UTC.
    assert quick_deadline(Quick.TODAY, before, BERLIN) == utc(2027, 3, 25, 17, 0)
    assert quick_deadline(Quick.IN_A_WEEK, before, BERLIN) == utc(2027, 4, 1, 16, 0)


@given(
    now=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)),
    choice=st.sampled_from(list(Quick)),
)
def test_quick_choices_are_always_future_moscow_working_day_ends(now: datetime, choice: Quick) -> None:
    try:
        due = quick_deadline(choice, now, MSK)
    except BadDeadline as e:
        # Only "today" in the very last minute of the local day.
        assert choice == Quick.TODAY and now.astimezone(MSK).time() >= datetime(2000, 1, 1, 23, 59).time()
        assert e.reason == "past"
        return
    assert due > now
    local_due, local_now = due.astimezone(MSK), now.astimezone(MSK)
    days = {Quick.TODAY: 0, Quick.TOMORROW: 1, Quick.IN_3_DAYS: 3, Quick.IN_A_WEEK: 7}[choice]
    assert local_due.date() == local_now.date() + timedelta(days=days)
    if choice == Quick.TODAY and local_now.time() >= END_OF_DAY:
        assert (local_due.hour, local_due.minute) == (23, 59)
    else:
        assert local_due.time() == END_OF_DAY


# --- properties ---------------------------------------------------------------------------------------------

_local_minutes = st.datetimes(min_value=datetime(2026, 11, 28, 12, 1), max_value=datetime(2099, 12, 31, 23, 59)).map(
    lambda d: d.replace(second=0, microsecond=0)
)


@given(local=_local_minutes)
def test_full_date_and_time_round_trips(local: datetime) -> None:
    due = local.replace(tzinfo=MSK)
    assume(due.astimezone(UTC) > NOW)
    assert parse_deadline(due.strftime("%d.%m.%Y %H:%M"), NOW, MSK) == due.astimezone(UTC)
    assert parse_deadline(f"{due.day}.{due.month}.{due.year} {due.hour}:{due.minute:02d}", NOW, MSK) == due


@given(
    now=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2032, 12, 31), timezones=st.just(UTC)),
    ahead=st.integers(min_value=1, max_value=364),
    hour=st.integers(0, 23),
    minute=st.integers(0, 59),
)
def test_date_without_year_is_the_next_such_date(now: datetime, ahead: int, hour: int, minute: int) -> None:
    target = now.astimezone(MSK).date() + timedelta(days=ahead)
    # 29 February has its own test below.
    assume((target.month, target.day) != (2, 29))
    due = parse_deadline(f"{target:%d.%m} {hour:02d}:{minute:02d}", now, MSK)
    assert due == datetime(target.year, target.month, target.day, hour, minute, tzinfo=MSK)


def test_29_february_without_year_means_the_next_leap_day() -> None:
    now = utc(2027, 3, 10, 9, 0)
    assert parse_deadline("29.02", now, MSK) == datetime(2028, 2, 29, 18, 0, tzinfo=MSK)


@given(text=st.text(max_size=30))
def test_any_text_parses_to_a_future_utc_moment_or_a_bad_deadline(text: str) -> None:
    try:
        due = parse_deadline(text, NOW, MSK)
    except BadDeadline as e:
        assert e.reason in ("unparseable", "past")
    else:
        assert due > NOW and due.utcoffset() == timedelta(0)


# --- overdue and extensions ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("due", "state", "expected"),
    [
        (None, State.NEW, False),
        (NOW - timedelta(seconds=1), State.NEW, True),
        (NOW - timedelta(days=3), State.IN_PROGRESS, True),
        (NOW - timedelta(days=3), State.ON_REVIEW, True),
        (NOW - timedelta(days=3), State.DECLINED, True),
        (NOW - timedelta(days=3), State.DONE, False),
        (NOW - timedelta(days=3), State.CANCELLED, False),
        (NOW, State.NEW, False),  # due this very moment: not yet late
        (NOW + timedelta(minutes=1), State.IN_PROGRESS, False),
    ],
)
def test_is_overdue(due: datetime | None, state: State, expected: bool) -> None:
    assert is_overdue(due, state, NOW) is expected


def test_extend() -> None:
    due = NOW + timedelta(days=1)
    assert extend(due, due + timedelta(hours=1), NOW) == due + timedelta(hours=1)
    for bad in (due, due - timedelta(hours=1), NOW - timedelta(days=1)):
        with pytest.raises(BadDeadline, match="past"):
            extend(due, bad, NOW)
    # An overdue order may be extended to any future moment.
    late = NOW - timedelta(days=2)
    assert extend(late, NOW + timedelta(minutes=5), NOW) == NOW + timedelta(minutes=5)
    with pytest.raises(BadDeadline):
        extend(late, NOW - timedelta(days=1), NOW)


def test_now_is_a_saturday_noon_in_moscow() -> None:
    assert NOW.astimezone(MSK).date() == date(2026, 11, 28) and NOW.astimezone(MSK).hour == 12
