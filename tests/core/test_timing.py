"""Scheduling math across real DST changes: every example asserts the exact UTC instant."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.schedule.timing import (
    WEEKDAYS_ALL,
    after_quiet_hours,
    in_quiet_hours,
    local_date_of,
    local_instant,
    missed_decision,
    next_fire_at,
    snooze_until,
)

NY = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
BERLIN = ZoneInfo("Europe/Berlin")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
KATHMANDU = ZoneInfo("Asia/Kathmandu")
WORKDAYS = frozenset(range(5))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def fires(
    *, at: time, tz: ZoneInfo, after: datetime, until: datetime, weekdays: frozenset[int] = WEEKDAYS_ALL
) -> list[datetime]:
    """Simulate the scheduler: fire, record the local date as served, ask for the next one."""
    out: list[datetime] = []
    served: date | None = None
    while True:
        nxt = next_fire_at(at=at, tz=tz, weekdays=weekdays, after=after, served_through=served)
        if nxt > until:
            return out
        out.append(nxt)
        after, served = nxt, local_date_of(nxt, tz)


# ------------------------------------------------------------------------------------------ local_instant


@pytest.mark.parametrize(
    ("day", "at", "tz", "expected"),
    [
        (date(2026, 3, 8), time(2, 30), NY, utc(2026, 3, 8, 7, 0)),  # gap -> transition (03:00 EDT)
        (date(2026, 3, 8), time(2, 0), NY, utc(2026, 3, 8, 7, 0)),  # start of the gap
        (date(2026, 3, 8), time(3, 0), NY, utc(2026, 3, 8, 7, 0)),  # first valid wall time
        (date(2026, 3, 8), time(1, 59), NY, utc(2026, 3, 8, 6, 59)),
        (date(2026, 11, 1), time(1, 30), NY, utc(2026, 11, 1, 5, 30)),  # ambiguous -> first (EDT)
        (date(2026, 11, 1), time(2, 0), NY, utc(2026, 11, 1, 7, 0)),  # first wall time after the repeat
        (date(2026, 3, 29), time(1, 30), LONDON, utc(2026, 3, 29, 1, 0)),  # gap 01:00-02:00 -> 02:00 BST
        (date(2026, 10, 25), time(1, 30), LONDON, utc(2026, 10, 25, 0, 30)),  # ambiguous -> BST reading
        (date(2026, 10, 4), time(2, 15), LORD_HOWE, utc(2026, 10, 3, 15, 30)),  # 30-minute gap 02:00-02:30
        (date(2026, 10, 4), time(2, 30), LORD_HOWE, utc(2026, 10, 3, 15, 30)),
        (date(2026, 4, 5), time(1, 45), LORD_HOWE, utc(2026, 4, 4, 14, 45)),  # repeat 01:30-02:00, +11
        (date(2026, 4, 5), time(2, 0), LORD_HOWE, utc(2026, 4, 4, 15, 30)),  # +10:30
        (date(2026, 6, 1), time(7, 0), KATHMANDU, utc(2026, 6, 1, 1, 15)),  # +5:45
        (date(2026, 6, 1), time(0, 0), KATHMANDU, utc(2026, 5, 31, 18, 15)),
    ],
)
def test_local_instant(day: date, at: time, tz: ZoneInfo, expected: datetime) -> None:
    result = local_instant(day, at, tz)
    assert result == expected
    assert result.tzinfo is UTC


def test_lord_howe_transitions_are_where_the_tests_assume() -> None:
    """Guard the examples above against a tzdata change: 30-minute shifts at 02:00 local."""
    assert utc(2026, 4, 4, 14, 59).astimezone(LORD_HOWE).utcoffset() == timedelta(hours=11)
    assert utc(2026, 4, 4, 15, 0).astimezone(LORD_HOWE).utcoffset() == timedelta(hours=10, minutes=30)
    assert utc(2026, 10, 3, 15, 29).astimezone(LORD_HOWE).utcoffset() == timedelta(hours=10, minutes=30)
    assert utc(2026, 10, 3, 15, 30).astimezone(LORD_HOWE).utcoffset() == timedelta(hours=11)


# ------------------------------------------------------------------------------------------ next_fire_at


def test_new_york_seven_am_across_both_changes() -> None:
    spring = fires(at=time(7), tz=NY, after=utc(2026, 3, 6), until=utc(2026, 3, 10, 23))
    assert spring == [
        utc(2026, 3, 6, 12),
        utc(2026, 3, 7, 12),
        utc(2026, 3, 8, 11),
        utc(2026, 3, 9, 11),
        utc(2026, 3, 10, 11),
    ]
    autumn = fires(at=time(7), tz=NY, after=utc(2026, 10, 31), until=utc(2026, 11, 2, 23))
    assert autumn == [utc(2026, 10, 31, 11), utc(2026, 11, 1, 12), utc(2026, 11, 2, 12)]


def test_london_seven_am_across_both_changes() -> None:
    spring = fires(at=time(7), tz=LONDON, after=utc(2026, 3, 28), until=utc(2026, 3, 30, 23))
    assert spring == [utc(2026, 3, 28, 7), utc(2026, 3, 29, 6), utc(2026, 3, 30, 6)]
    autumn = fires(at=time(7), tz=LONDON, after=utc(2026, 10, 24), until=utc(2026, 10, 26, 23))
    assert autumn == [utc(2026, 10, 24, 6), utc(2026, 10, 25, 7), utc(2026, 10, 26, 7)]


def test_london_reminder_in_the_gap_and_in_the_repeat() -> None:
    assert fires(at=time(1, 30), tz=LONDON, after=utc(2026, 3, 28), until=utc(2026, 3, 30, 12)) == [
        utc(2026, 3, 28, 1, 30),
        utc(2026, 3, 29, 1, 0),  # 01:30 does not exist; 02:00 BST
        utc(2026, 3, 30, 0, 30),
    ]
    assert fires(at=time(1, 30), tz=LONDON, after=utc(2026, 10, 24), until=utc(2026, 10, 26, 12)) == [
        utc(2026, 10, 24, 0, 30),
        utc(2026, 10, 25, 0, 30),  # first 01:30 (BST) only
        utc(2026, 10, 26, 1, 30),
    ]


def test_new_york_spring_forward_0230_fires_once_at_the_transition() -> None:
    got = fires(at=time(2, 30), tz=NY, after=utc(2026, 3, 6), until=utc(2026, 3, 10, 23))
    assert got == [
        utc(2026, 3, 6, 7, 30),
        utc(2026, 3, 7, 7, 30),
        utc(2026, 3, 8, 7, 0),  # 03:00 EDT, the first valid instant after 02:30
        utc(2026, 3, 9, 6, 30),
        utc(2026, 3, 10, 6, 30),
    ]
    assert [local_date_of(f, NY) for f in got] == [date(2026, 3, d) for d in range(6, 11)]


def test_new_york_fall_back_0130_fires_once_at_first_occurrence() -> None:
    got = fires(at=time(1, 30), tz=NY, after=utc(2026, 10, 30), until=utc(2026, 11, 3, 23))
    assert got == [
        utc(2026, 10, 30, 5, 30),
        utc(2026, 10, 31, 5, 30),
        utc(2026, 11, 1, 5, 30),  # 01:30 EDT; the 01:30 EST an hour later never fires
        utc(2026, 11, 2, 6, 30),
        utc(2026, 11, 3, 6, 30),
    ]
    assert [local_date_of(f, NY) for f in got] == [date(2026, 10, 30), date(2026, 10, 31)] + [
        date(2026, 11, d) for d in (1, 2, 3)
    ]


def test_between_the_two_ambiguous_readings_the_next_is_tomorrow_even_without_served_through() -> None:
    # 06:00Z is 01:00 EST, after the first 01:30 (05:30Z) and before the second (06:30Z).
    got = next_fire_at(at=time(1, 30), tz=NY, weekdays=WEEKDAYS_ALL, after=utc(2026, 11, 1, 6, 0))
    assert got == utc(2026, 11, 2, 6, 30)


def test_lord_howe_half_hour_shifts() -> None:
    autumn = fires(at=time(1, 45), tz=LORD_HOWE, after=utc(2026, 4, 3), until=utc(2026, 4, 5, 23))
    assert autumn == [utc(2026, 4, 3, 14, 45), utc(2026, 4, 4, 14, 45), utc(2026, 4, 5, 15, 15)]
    spring = fires(at=time(2, 15), tz=LORD_HOWE, after=utc(2026, 10, 2), until=utc(2026, 10, 4, 23))
    assert spring == [utc(2026, 10, 2, 15, 45), utc(2026, 10, 3, 15, 30), utc(2026, 10, 4, 15, 15)]


def test_gap_across_midnight_fires_in_the_last_minute_before_it() -> None:
    """Nuuk's clock goes from 22:59:59 (-02) on 2026-03-28 to 00:00 (-01) on 2026-03-29: 23:30 never
    happens on the 28th, and the transition belongs to the 29th, so the 28th's reminder is at 22:59."""
    nuuk = ZoneInfo("America/Nuuk")
    assert local_instant(date(2026, 3, 28), time(23, 30), nuuk) == utc(2026, 3, 29, 1)  # 00:00 on the 29th
    got = fires(at=time(23, 30), tz=nuuk, after=utc(2026, 3, 27, 12), until=utc(2026, 3, 31))
    assert got == [utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 0, 59), utc(2026, 3, 30, 0, 30)]
    assert [local_date_of(f, nuuk) for f in got] == [date(2026, 3, d) for d in (27, 28, 29)]


def test_kathmandu_quarter_hour_offset() -> None:
    got = fires(at=time(7), tz=KATHMANDU, after=utc(2026, 6, 1, 2), until=utc(2026, 6, 3, 12))
    assert got == [utc(2026, 6, 2, 1, 15), utc(2026, 6, 3, 1, 15)]


def test_weekdays_only_skips_the_weekend() -> None:
    # Friday 2026-03-06 after the 07:00 EST reminder -> Monday 2026-03-09, 07:00 EDT (DST began Sunday).
    got = next_fire_at(at=time(7), tz=NY, weekdays=WORKDAYS, after=utc(2026, 3, 6, 12), served_through=date(2026, 3, 6))
    assert got == utc(2026, 3, 9, 11)
    week = fires(at=time(7), tz=NY, after=utc(2026, 3, 2), until=utc(2026, 3, 15, 23), weekdays=WORKDAYS)
    assert {local_date_of(f, NY).weekday() for f in week} == set(WORKDAYS)
    assert len(week) == 10


def test_single_weekday_is_a_week_away_when_today_has_passed() -> None:
    # Sunday 2026-06-07 at 10:00 EDT; reminder Sundays at 07:00 -> next Sunday.
    got = next_fire_at(at=time(7), tz=NY, weekdays=frozenset({6}), after=utc(2026, 6, 7, 14))
    assert got == utc(2026, 6, 14, 11)


def test_served_through_prevents_a_second_reminder_after_moving_the_time_later() -> None:
    # Today's 07:00 EDT reminder went out; at 07:05 the user moves their time to 09:00.
    after = utc(2026, 6, 10, 11, 5)
    assert next_fire_at(at=time(9), tz=NY, weekdays=WEEKDAYS_ALL, after=after) == utc(2026, 6, 10, 13)
    got = next_fire_at(at=time(9), tz=NY, weekdays=WEEKDAYS_ALL, after=after, served_through=date(2026, 6, 10))
    assert got == utc(2026, 6, 11, 13)


def test_served_through_in_the_future_is_respected() -> None:
    got = next_fire_at(
        at=time(9), tz=NY, weekdays=WEEKDAYS_ALL, after=utc(2026, 6, 10), served_through=date(2026, 6, 20)
    )
    assert got == utc(2026, 6, 21, 13)


def test_nine_am_set_at_eleven_pm_means_tomorrow() -> None:
    # 23:00 CEST on 2026-06-10 in Berlin = 21:00Z.
    got = next_fire_at(at=time(9), tz=BERLIN, weekdays=WEEKDAYS_ALL, after=utc(2026, 6, 10, 21))
    assert got == utc(2026, 6, 11, 7)


def test_strictly_after() -> None:
    got = next_fire_at(at=time(9), tz=BERLIN, weekdays=WEEKDAYS_ALL, after=utc(2026, 6, 10, 7))
    assert got == utc(2026, 6, 11, 7)


def test_after_in_another_zone_is_the_same_instant() -> None:
    after = datetime(2026, 6, 10, 23, 0, tzinfo=BERLIN)
    assert next_fire_at(at=time(9), tz=BERLIN, weekdays=WEEKDAYS_ALL, after=after) == utc(2026, 6, 11, 7)


@pytest.mark.parametrize("weekdays", [frozenset(), frozenset({7}), frozenset({-1, 2})])
def test_bad_weekdays_raise(weekdays: frozenset[int]) -> None:
    with pytest.raises(ValueError):
        next_fire_at(at=time(9), tz=NY, weekdays=weekdays, after=utc(2026, 1, 1))


def test_naive_after_raises() -> None:
    with pytest.raises(ValueError):
        next_fire_at(at=time(9), tz=NY, weekdays=WEEKDAYS_ALL, after=datetime(2026, 1, 1))


def test_local_date_of() -> None:
    assert local_date_of(utc(2026, 6, 10, 23, 30), BERLIN) == date(2026, 6, 11)
    assert local_date_of(utc(2026, 6, 10, 3, 30), NY) == date(2026, 6, 9)


# ------------------------------------------------------------------------------------------ quiet hours


@pytest.mark.parametrize(
    ("wall", "expected"),
    [
        (time(21, 59), False),
        (time(22, 0), True),
        (time(23, 30), True),
        (time(0, 0), True),
        (time(6, 59), True),
        (time(7, 0), False),
        (time(12, 0), False),
    ],
)
def test_quiet_hours_wrapping_midnight(wall: time, expected: bool) -> None:
    instant = datetime.combine(date(2026, 6, 10), wall, tzinfo=BERLIN)
    assert in_quiet_hours(instant, BERLIN, time(22), time(7)) is expected


def test_quiet_hours_within_a_day_and_none() -> None:
    noon = datetime(2026, 6, 10, 12, 30, tzinfo=BERLIN)
    assert in_quiet_hours(noon, BERLIN, time(12), time(14))
    assert not in_quiet_hours(noon, BERLIN, time(13), time(14))
    assert not in_quiet_hours(noon, BERLIN, time(12), time(12))  # start == end: no quiet hours


def test_after_quiet_hours() -> None:
    q = (time(22), time(7))
    # 23:30 CEST -> 07:00 CEST next day; 03:00 -> 07:00 same day; 12:00 unchanged.
    assert after_quiet_hours(utc(2026, 6, 10, 21, 30), BERLIN, *q) == utc(2026, 6, 11, 5)
    assert after_quiet_hours(utc(2026, 6, 11, 1), BERLIN, *q) == utc(2026, 6, 11, 5)
    assert after_quiet_hours(utc(2026, 6, 11, 10), BERLIN, *q) == utc(2026, 6, 11, 10)
    # Across a change: 23:00 CET on 2026-03-28 -> 07:00 CEST on 2026-03-29 (05:00Z).
    assert after_quiet_hours(utc(2026, 3, 28, 22), BERLIN, *q) == utc(2026, 3, 29, 5)


def test_after_quiet_hours_end_in_a_gap_and_in_a_repeat() -> None:
    # Quiet until 02:30 on New York's spring-forward night: 02:30 does not exist -> 03:00 EDT (07:00Z).
    assert after_quiet_hours(utc(2026, 3, 8, 6, 45), NY, time(22), time(2, 30)) == utc(2026, 3, 8, 7)
    # Quiet 00:00-01:45 on fall-back night, now 01:30 EST (second reading, 06:30Z): the first 01:45 (05:45Z)
    # is past, so quiet ends at the second 01:45 (06:45Z).
    assert after_quiet_hours(utc(2026, 11, 1, 6, 30), NY, time(0), time(1, 45)) == utc(2026, 11, 1, 6, 45)


# ------------------------------------------------------------------------------------------ snooze


def test_snooze_plain() -> None:
    now = utc(2026, 6, 10, 10)
    got = snooze_until(
        now=now, minutes=30, next_regular=utc(2026, 6, 11, 7), tz=BERLIN, quiet_start=None, quiet_end=None
    )
    assert got == utc(2026, 6, 10, 10, 30)


def test_snooze_landing_in_quiet_hours_is_pushed_to_their_end() -> None:
    # 21:30 CEST + 60 min = 22:30, quiet 22:00-07:00 -> 07:00 CEST (05:00Z); next regular at 09:00 CEST.
    got = snooze_until(
        now=utc(2026, 6, 10, 19, 30),
        minutes=60,
        next_regular=utc(2026, 6, 11, 7),
        tz=BERLIN,
        quiet_start=time(22),
        quiet_end=time(7),
    )
    assert got == utc(2026, 6, 11, 5)


def test_snooze_pushed_into_the_next_regular_reminder_is_dropped() -> None:
    # Same, but the next regular reminder is at 07:30 CEST: 07:00 is within an hour of it.
    got = snooze_until(
        now=utc(2026, 6, 10, 19, 30),
        minutes=60,
        next_regular=utc(2026, 6, 11, 5, 30),
        tz=BERLIN,
        quiet_start=time(22),
        quiet_end=time(7),
    )
    assert got is None


@pytest.mark.parametrize(("minutes", "expected"), [(29, utc(2026, 6, 10, 10, 29)), (30, None), (45, None)])
def test_snooze_colliding_with_the_next_regular_reminder(minutes: int, expected: datetime | None) -> None:
    now = utc(2026, 6, 10, 10)
    next_regular = utc(2026, 6, 10, 11, 30)  # 30 min + the 1-hour margin from now
    got = snooze_until(now=now, minutes=minutes, next_regular=next_regular, tz=BERLIN, quiet_start=None, quiet_end=None)
    assert got == expected


def test_snooze_needs_positive_minutes() -> None:
    with pytest.raises(ValueError):
        snooze_until(
            now=utc(2026, 6, 10),
            minutes=0,
            next_regular=utc(2026, 6, 11),
            tz=BERLIN,
            quiet_start=None,
            quiet_end=None,
        )


# ------------------------------------------------------------------------------------------ missed


@pytest.mark.parametrize(
    ("late", "expected"),
    [
        (timedelta(minutes=-5), "send"),
        (timedelta(0), "send"),
        (timedelta(hours=2), "send"),
        (timedelta(hours=2, seconds=1), "skip"),
        (timedelta(days=1), "skip"),
    ],
)
def test_missed_decision(late: timedelta, expected: str) -> None:
    due = utc(2026, 6, 10, 7)
    assert missed_decision(due_at=due, now=due + late, grace=timedelta(hours=2)) == expected


# ------------------------------------------------------------------------------------------ properties

TRICKY_ZONES = [
    "America/New_York",
    "Europe/London",
    "Europe/Dublin",  # negative DST in the tz database
    "Australia/Lord_Howe",  # 30-minute shift
    "Asia/Kathmandu",  # +5:45
    "Pacific/Chatham",  # +12:45 / +13:45, changes at 02:45 local
    "America/St_Johns",  # -3:30 / -2:30
    "Australia/Adelaide",
    "America/Santiago",  # changes at midnight
    "America/Havana",  # changes at midnight
    "Africa/Casablanca",  # Ramadan changes, several a year
    "Antarctica/Troll",  # 2-hour shift
    "Pacific/Kiritimati",  # +14
    "Pacific/Pago_Pago",  # -11
    "Asia/Gaza",
    "America/Asuncion",
    "America/Scoresbysund",
    "America/Nuuk",  # jumps from 22:59 to 00:00 next day
    "UTC",
]

zones = st.sampled_from(TRICKY_ZONES).map(ZoneInfo)
instants = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC))
weekday_sets = st.frozensets(st.integers(0, 6), min_size=1)
quarter_hours = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))


def _transitions(tz: ZoneInfo) -> list[datetime]:
    """Every UTC-offset change of ``tz`` in 2025-2028 (daily samples, then bisection to the second)."""
    found = []
    day = utc(2025, 1, 1, 12)
    while day < utc(2029, 1, 1):
        lo, hi = day, day + timedelta(days=1)
        if lo.astimezone(tz).utcoffset() != hi.astimezone(tz).utcoffset():
            while hi - lo > timedelta(seconds=1):
                mid = lo + (hi - lo) // 2
                if mid.astimezone(tz).utcoffset() == lo.astimezone(tz).utcoffset():
                    lo = mid
                else:
                    hi = mid
            found.append(hi)
        day += timedelta(days=1)
    return found


NEAR_TRANSITIONS = [(ZoneInfo(key), t) for key in TRICKY_ZONES for t in _transitions(ZoneInfo(key))]


@st.composite
def zone_instant_time(draw: st.DrawFn, minute_step: int = 1) -> tuple[ZoneInfo, datetime, time]:
    """A zone, an instant and a wall time; half the time all three sit within days/hours of a DST change."""
    if draw(st.booleans()):
        tz, instant = draw(zones), draw(instants)
        at = time(draw(st.integers(0, 23)), draw(st.integers(0, 59 // minute_step)) * minute_step)
        return tz, instant, at
    tz, transition = draw(st.sampled_from(NEAR_TRANSITIONS))
    instant = transition + timedelta(minutes=draw(st.integers(-1440, 60)))
    wall = transition.astimezone(tz) + timedelta(minutes=draw(st.integers(-90, 90)))
    at = time(wall.hour, wall.minute // minute_step * minute_step)
    return tz, instant, at


def _is_transition(instant: datetime, tz: ZoneInfo) -> bool:
    before = (instant - timedelta(seconds=1)).astimezone(tz).utcoffset()
    return before != instant.astimezone(tz).utcoffset()


def _in_gap(day: date, at: time, tz: ZoneInfo) -> bool:
    naive = datetime.combine(day, at)
    return naive.replace(tzinfo=tz).astimezone(UTC).astimezone(tz).replace(tzinfo=None) != naive


@settings(max_examples=400, deadline=None)
@given(zia=zone_instant_time(), weekdays=weekday_sets, served_offset=st.none() | st.integers(-3, 3))
def test_next_fire_at_properties(
    zia: tuple[ZoneInfo, datetime, time], weekdays: frozenset[int], served_offset: int | None
) -> None:
    tz, after, at = zia
    served = None if served_offset is None else local_date_of(after, tz) + timedelta(days=served_offset)
    got = next_fire_at(at=at, tz=tz, weekdays=weekdays, after=after, served_through=served)
    local = got.astimezone(tz)
    assert got.tzinfo is UTC
    assert got > after
    assert served is None or local.date() > served
    assert local.weekday() in weekdays
    if local.time() != at:
        assert _in_gap(local.date(), at, tz)
        if _is_transition(got, tz):  # the first valid instant after the gap
            assert local.time() > at
            assert got == local_instant(local.date(), at, tz)
        else:  # the gap runs past midnight: the last minute before it, on the same date
            assert _is_transition(got + timedelta(minutes=1), tz)
            assert local_date_of(local_instant(local.date(), at, tz), tz) > local.date()
    else:  # the first reading of an ambiguous time
        assert got == local_instant(local.date(), at, tz)
    # One per local day: asking again after it, with its date served, moves to a later local date.
    again = next_fire_at(at=at, tz=tz, weekdays=weekdays, after=got, served_through=local.date())
    assert local_date_of(again, tz) > local.date()


def _oracle(at: time, tz: ZoneInfo, weekdays: frozenset[int], after: datetime, served: date | None) -> datetime:
    """Brute force in 15-minute steps: for each local date, the first instant its wall clock reaches `at`
    (or jumps over it); the answer is the first such instant after `after` on an eligible date."""
    step = timedelta(minutes=15)
    u = after.replace(minute=after.minute // 15 * 15, second=0, microsecond=0) - timedelta(days=2)
    seen: set[date] = set()
    prev_wall = u.astimezone(tz).replace(tzinfo=None)
    while True:
        u += step
        wall = u.astimezone(tz).replace(tzinfo=None)
        hits: list[tuple[date, datetime]] = []
        if wall - prev_wall > step:  # the clock jumped forward over [prev_wall + step, wall)
            for day in (prev_wall.date(), wall.date()):
                if prev_wall + step <= datetime.combine(day, at) < wall:
                    # Jumped over `at`: the jump itself, or the last minute before it if `at`'s date is
                    # left behind by the jump.
                    hits.append((day, u if day == wall.date() else u - timedelta(minutes=1)))
        if wall.time() == at:
            hits.append((wall.date(), u))
        for day, instant in hits:
            if day in seen:
                continue
            seen.add(day)
            if instant > after and day.weekday() in weekdays and (served is None or day > served):
                return instant
        prev_wall = wall


@settings(max_examples=300, deadline=None)
@given(zia=zone_instant_time(minute_step=15), weekdays=weekday_sets, served_offset=st.none() | st.integers(-2, 2))
def test_next_fire_at_matches_brute_force(
    zia: tuple[ZoneInfo, datetime, time], weekdays: frozenset[int], served_offset: int | None
) -> None:
    tz, after, at = zia
    served = None if served_offset is None else local_date_of(after, tz) + timedelta(days=served_offset)
    got = next_fire_at(at=at, tz=tz, weekdays=weekdays, after=after, served_through=served)
    assert got == _oracle(at, tz, weekdays, after, served)


@settings(max_examples=100, deadline=None)
@given(zia=zone_instant_time(), weekdays=weekday_sets)
def test_a_month_of_fires_has_one_per_eligible_local_date(
    zia: tuple[ZoneInfo, datetime, time], weekdays: frozenset[int]
) -> None:
    tz, after, at = zia
    got = fires(at=at, tz=tz, after=after, until=after + timedelta(days=30), weekdays=weekdays)
    dates = [local_date_of(f, tz) for f in got]
    assert dates == sorted(set(dates))
    assert all(d.weekday() in weekdays for d in dates)
    first, last = local_date_of(after, tz) + timedelta(days=1), local_date_of(after + timedelta(days=30), tz)
    expected = {first + timedelta(days=i) for i in range((last - first).days)}
    assert {d for d in expected if d.weekday() in weekdays} <= set(dates)


@settings(max_examples=300, deadline=None)
@given(zia=zone_instant_time(minute_step=15), start=quarter_hours)
def test_after_quiet_hours_properties(zia: tuple[ZoneInfo, datetime, time], start: time) -> None:
    tz, instant, end = zia
    got = after_quiet_hours(instant, tz, start, end)
    assert got >= instant
    assert not in_quiet_hours(got, tz, start, end)
    if not in_quiet_hours(instant, tz, start, end):
        assert got == instant
    else:
        # Under a day, unless the only non-quiet slot of a day fell into a DST gap (then two).
        assert got - instant < timedelta(days=2)


@settings(max_examples=200, deadline=None)
@given(
    zia=zone_instant_time(minute_step=15),
    minutes=st.integers(1, 24 * 60),
    ahead=st.integers(0, 48 * 60),
    quiet=st.none() | st.tuples(quarter_hours, quarter_hours),
)
def test_snooze_properties(
    zia: tuple[ZoneInfo, datetime, time], minutes: int, ahead: int, quiet: tuple[time, time] | None
) -> None:
    tz, now, _ = zia
    next_regular = now + timedelta(minutes=ahead)
    qs, qe = quiet or (None, None)
    got = snooze_until(now=now, minutes=minutes, next_regular=next_regular, tz=tz, quiet_start=qs, quiet_end=qe)
    if got is not None:
        assert got >= now + timedelta(minutes=minutes)
        assert got < next_regular - timedelta(hours=1)
        assert quiet is None or not in_quiet_hours(got, tz, *quiet)
