"""Parsing what users type as a time of day or a time zone."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.schedule import zones
from bot.schedule.zones import COMMON_ZONES, parse_local_time, parse_timezone

# ------------------------------------------------------------------------------------------ times


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7:30am", time(7, 30)),
        ("7.30 am", time(7, 30)),
        ("7:30 a.m.", time(7, 30)),
        ("7:30 PM", time(19, 30)),
        ("07:30", time(7, 30)),
        ("19:00", time(19, 0)),
        ("00:00", time(0, 0)),
        ("23:59", time(23, 59)),
        ("7pm", time(19, 0)),
        ("7 pm", time(19, 0)),
        ("7 P.M.", time(19, 0)),
        (" 9AM ", time(9, 0)),
        ("12am", time(0, 0)),
        ("12pm", time(12, 0)),
        ("12:30 am", time(0, 30)),
        ("noon", time(12, 0)),
        ("Midday", time(12, 0)),
        ("midnight", time(0, 0)),
        ("0730", time(7, 30)),  # compact 24-hour form: exactly four digits
        ("1930", time(19, 30)),
        ("730pm", time(19, 30)),  # compact with am/pm
        ("1130 am", time(11, 30)),
        ("19h", time(19, 0)),
        ("7h30", time(7, 30)),
        ("7", time(7, 0)),  # a bare hour is on the 24-hour clock
        ("７:３０", time(7, 30)),  # full-width digits
    ],
)
def test_parse_local_time_accepts(text: str, expected: time) -> None:
    assert parse_local_time(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "25:00",
        "24:00",
        "23:60",
        "13pm",
        "0am",
        "00:30pm",
        "7:5",
        "730",  # three digits without am/pm: refused rather than guessed
        "2400",
        "7:30:00",
        "banana",
        "7m",
        "7 pm pm",
        "7.",
        "-7:00",
        "7:30 tomorrow",
        "٧:٣٠",  # Arabic-Indic digits are not read as a time
        "😀",
        "7:30😀",
        "9" * 5000,
        "7:30" + " " * 5000,
        "x" * 5000,
    ],
)
def test_parse_local_time_rejects(text: str) -> None:
    assert parse_local_time(text) is None


def test_parse_local_time_rejects_non_strings() -> None:
    assert parse_local_time(None) is None  # type: ignore[arg-type]
    assert parse_local_time(730) is None  # type: ignore[arg-type]


@given(st.text(max_size=200))
def test_parse_local_time_never_raises(text: str) -> None:
    result = parse_local_time(text)
    assert result is None or isinstance(result, time)


@given(st.integers(0, 23), st.integers(0, 59))
def test_parse_local_time_round_trips_24_hour_form(hour: int, minute: int) -> None:
    assert parse_local_time(f"{hour:02d}:{minute:02d}") == time(hour, minute)
    assert parse_local_time(f"{(hour - 1) % 12 + 1}:{minute:02d} {'pm' if hour >= 12 else 'am'}") == time(hour, minute)


# ------------------------------------------------------------------------------------------ zones


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Europe/Berlin", "Europe/Berlin"),
        ("europe/berlin", "Europe/Berlin"),
        ("AMERICA/NEW_YORK", "America/New_York"),
        ("America/New York", "America/New_York"),
        ("New York", "America/New_York"),
        ("new_york", "America/New_York"),
        ("new-york", "America/New_York"),
        ("berlin", "Europe/Berlin"),
        ("  Berlin  ", "Europe/Berlin"),
        ("Berlin, Germany", "Europe/Berlin"),
        ("Kathmandu", "Asia/Kathmandu"),
        ("sao paulo", "America/Sao_Paulo"),
        ("São Paulo", "America/Sao_Paulo"),
        ("Ho Chi Minh", "Asia/Ho_Chi_Minh"),
        ("St. John's", "America/St_Johns"),
        ("port au prince", "America/Port-au-Prince"),
        ("Buenos Aires", "America/Argentina/Buenos_Aires"),
        ("Indianapolis", "America/Indiana/Indianapolis"),
        ("Oslo", "Europe/Oslo"),  # a link to Europe/Berlin in tzdata, but the user is in Oslo
        # backward names become the current key
        ("Asia/Calcutta", "Asia/Kolkata"),
        ("Calcutta", "Asia/Kolkata"),
        ("US/Eastern", "America/New_York"),
        ("Kiev", "Europe/Kyiv"),
        ("Japan", "Asia/Tokyo"),
        # aliases
        ("London", "Europe/London"),
        ("UK", "Europe/London"),
        ("uk", "Europe/London"),
        ("England", "Europe/London"),
        ("India", "Asia/Kolkata"),
        ("NYC", "America/New_York"),
        ("EST5EDT", "America/New_York"),
        # UTC and offsets
        ("UTC", "UTC"),
        ("utc", "UTC"),
        ("GMT", "UTC"),
        ("Z", "UTC"),
        ("UTC+0", "UTC"),
        ("GMT-0", "UTC"),
        ("UTC+2", "Etc/GMT-2"),
        ("utc +2", "Etc/GMT-2"),
        ("UTC+02:00", "Etc/GMT-2"),
        ("GMT-5", "Etc/GMT+5"),
        ("UTC−5", "Etc/GMT+5"),  # typographic minus
        ("-05:00", "Etc/GMT+5"),
        ("UTC+14", "Etc/GMT-14"),
        ("UTC-12", "Etc/GMT+12"),
        ("+05:30", "Asia/Kolkata"),
        ("+0530", "Asia/Kolkata"),
        ("UTC+5:45", "Asia/Kathmandu"),
        ("UTC-3:30", "America/St_Johns"),
        ("Etc/GMT-2", "Etc/GMT-2"),
    ],
)
def test_parse_timezone_accepts(text: str, expected: str) -> None:
    assert parse_timezone(text) == expected
    ZoneInfo(expected)  # and it is a real key


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "banana",
        "Narnia",
        "Europe",
        "America/",
        "/",
        "EST",  # US Eastern standard, or Australian Eastern; and wrong half the year either way
        "CET",  # also used without DST in North Africa
        "IST",  # India, Ireland or Israel
        "PST",
        "Factory",
        "localtime",
        "UTC+15",
        "UTC-13",
        "UTC+2:15",  # nobody uses it
        "UTC+9:30",  # Darwin (no DST) or Adelaide (DST): ambiguous
        "UTC+10:30",  # Adelaide in summer, Lord Howe in winter: ambiguous
        "UTC+5:75",
        "5",
        "+",
        "😀",
        "Berlin😀",
        "x" * 5000,
        "Berlin" + " " * 5000,
        "Europe/Berlin" * 400,
    ],
)
def test_parse_timezone_rejects(text: str) -> None:
    assert parse_timezone(text) is None


def test_parse_timezone_rejects_non_strings() -> None:
    assert parse_timezone(None) is None  # type: ignore[arg-type]


@given(st.text(max_size=200))
def test_parse_timezone_never_raises_and_returns_real_keys(text: str) -> None:
    result = parse_timezone(text)
    assert result is None or result in available_timezones()


@pytest.mark.parametrize("hours", range(-12, 15))
def test_whole_hour_offsets_have_the_right_sign(hours: int) -> None:
    key = parse_timezone(f"UTC{hours:+d}")
    assert key is not None
    assert datetime(2026, 1, 1, tzinfo=ZoneInfo(key)).utcoffset() == timedelta(hours=hours)


def test_every_country_zone_is_found_by_key_and_by_city() -> None:
    """Every zone.tab key parses to itself, and its city name (with spaces) does too."""
    canonical = zones._canonical()
    keys = {k for k in canonical.values() if k.split("/", 1)[0] in zones._REGIONS}
    assert len(keys) > 300
    for key in keys:
        assert parse_timezone(key) == key
        assert parse_timezone(key.lower()) == key
        city = key.rsplit("/", 1)[1].replace("_", " ")
        assert parse_timezone(city) == key, city


def test_common_zones_are_real_and_parse() -> None:
    assert 8 <= len(COMMON_ZONES) <= 12
    for label, key in COMMON_ZONES:
        ZoneInfo(key)
        assert parse_timezone(label.split(" / ")[0].split(" (")[0]) in {key, "Asia/Kolkata"}, label


def _yearly_offsets() -> dict[str, tuple[int, ...]]:
    """Each zone's UTC offset (minutes) at noon UTC on every day of 2026."""
    days = [datetime(2026, 1, 1, 12, tzinfo=UTC) + timedelta(days=i) for i in range(365)]
    out = {}
    for key in available_timezones():
        if key in {"Factory", "localtime"}:
            continue
        tz = ZoneInfo(key)
        out[key] = tuple(int(d.astimezone(tz).utcoffset().total_seconds()) // 60 for d in days)  # type: ignore[union-attr]
    return out


def test_non_whole_offsets_map_only_where_unambiguous() -> None:
    """Checks the hand-written table against the tz database: an offset gets a zone exactly when every zone
    that shows it during 2026 keeps the same clock all year, and the zone picked is one of them."""
    yearly = _yearly_offsets()
    users: dict[int, set[tuple[int, ...]]] = defaultdict(set)
    for offsets in yearly.values():
        for minutes in set(offsets):
            if minutes % 60:
                users[minutes].add(offsets)
    assert set(zones._HALF_HOUR_OFFSETS) <= set(users)
    for minutes, clocks in users.items():
        sign, absolute = ("+" if minutes > 0 else "-"), abs(minutes)
        text = f"UTC{sign}{absolute // 60}:{absolute % 60:02d}"
        if len(clocks) == 1:
            key = parse_timezone(text)
            assert key is not None, text
            assert yearly[key] in clocks, text
        else:
            assert parse_timezone(text) is None, text
