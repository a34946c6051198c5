"""Turning what a user types ("7.30 am", "sao paulo", "UTC+5:45") into a wall time and an IANA zone key.

Both parsers are forgiving about form and strict about meaning: they return None rather than guess when
the input is nonsense or names more than one real time zone. Pure functions; the only files read are the
tz database's own tables, once, when the city index is first built.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import time
from functools import cache
from importlib import resources
from zoneinfo import available_timezones

__all__ = ["COMMON_ZONES", "parse_local_time", "parse_timezone"]

# Anything longer than this is not a time or a zone name; checking first keeps regexes cheap on junk.
_MAX_INPUT = 64

COMMON_ZONES: list[tuple[str, str]] = [
    ("London", "Europe/London"),
    ("Berlin / Paris", "Europe/Berlin"),
    ("New York", "America/New_York"),
    ("Chicago", "America/Chicago"),
    ("Denver", "America/Denver"),
    ("Los Angeles", "America/Los_Angeles"),
    ("São Paulo", "America/Sao_Paulo"),
    ("India (Kolkata)", "Asia/Kolkata"),
    ("Sydney", "Australia/Sydney"),
    ("UTC", "UTC"),
]
"""(label, IANA key) pairs for a quick-pick list of zones."""

# ---------------------------------------------------------------------------------------------- times

_WORD_TIMES = {"noon": time(12), "midday": time(12), "midnight": time(0)}

# "7", "7:30", "7.30", "7h30", "19h", optionally followed by am/pm ("a.m.", "pm", " PM", "7a").
_AMPM = r"(?:(?P<ampm>[ap])(?:\.?\s*m)?\.?)"
_TIME_RE = re.compile(rf"(?P<h>[0-9]{{1,2}})(?:[:.h](?P<m>[0-9]{{2}})|h)?\s*{_AMPM}?", re.ASCII)
# Compact "0730" / "1930" (exactly four digits, 24-hour), or "730pm" / "1130 am" (three or four, with am/pm).
_COMPACT_RE = re.compile(rf"(?P<hhmm>[0-9]{{4}})|(?P<hm>[0-9]{{3,4}})\s*{_AMPM}", re.ASCII)


def _clean(text: object) -> str | None:
    """Shared guard: strings only, bounded length, compatibility-normalised (full-width digits -> ASCII)."""
    if not isinstance(text, str) or len(text) > 4 * _MAX_INPUT:
        return None
    text = unicodedata.normalize("NFKC", text).strip().casefold()
    if not text or len(text) > _MAX_INPUT:
        return None
    return text


def _build_time(hour: int, minute: int, ampm: str | None) -> time | None:
    """Validate the fields; with am/pm the hour is 1-12 (12am = 00:00, 12pm = 12:00), else 0-23."""
    if not 0 <= minute <= 59:
        return None
    if ampm is None:
        return time(hour, minute) if 0 <= hour <= 23 else None
    if not 1 <= hour <= 12:
        return None
    return time(hour % 12 + (12 if ampm == "p" else 0), minute)


def parse_local_time(text: str) -> time | None:
    """A wall time from what a person types, or None.

    Accepted: "7:30am", "7.30 am", "7:30 a.m.", "07:30", "19:00", "7pm", "7 pm", " 9AM ", "19h", "7h30",
    "noon", "midday", "midnight", and compact forms "0730"/"1930" (four digits, 24-hour) or "730pm" (with
    am/pm). A bare number without am/pm ("7") means that hour on the 24-hour clock. Rejected: out-of-range
    fields ("25:00", "24:00", "13pm", "0am"), one-digit minutes ("7:5"), seconds, and anything else.
    """
    cleaned = _clean(text)
    if cleaned is None:
        return None
    if cleaned in _WORD_TIMES:
        return _WORD_TIMES[cleaned]
    match = _TIME_RE.fullmatch(cleaned)
    if match is not None:
        return _build_time(int(match["h"]), int(match["m"] or 0), match["ampm"])
    match = _COMPACT_RE.fullmatch(cleaned)
    if match is not None:
        digits = match["hm"] or match["hhmm"]
        return _build_time(int(digits[:-2]), int(digits[-2:]), match["ampm"])
    return None


# ---------------------------------------------------------------------------------------------- zones

_REGIONS = frozenset(
    {"Africa", "America", "Antarctica", "Arctic", "Asia", "Atlantic", "Australia", "Europe", "Indian"} | {"Pacific"}
)

# Keys in the tz database that a person might type but that do not name one real place's clock:
# three-letter abbreviations (EST is also Australian; CET is used without DST in North Africa) and
# technical keys. Typed verbatim they get None rather than a zone that is right only half the year.
_REFUSED_KEYS = frozenset({"CET", "EET", "WET", "MET", "EST", "MST", "HST", "Factory", "localtime"})

# Small, honest alias table: each name below means exactly one zone. Keys are in _norm() form.
_ALIASES: dict[str, str] = {
    "utc": "UTC",
    "gmt": "UTC",
    "z": "UTC",
    "zulu": "UTC",
    "uk": "Europe/London",
    "gb": "Europe/London",
    "great britain": "Europe/London",
    "britain": "Europe/London",
    "united kingdom": "Europe/London",
    "england": "Europe/London",
    "scotland": "Europe/London",
    "wales": "Europe/London",
    "ireland": "Europe/Dublin",
    "india": "Asia/Kolkata",
    "mumbai": "Asia/Kolkata",
    "bombay": "Asia/Kolkata",
    "delhi": "Asia/Kolkata",
    "new delhi": "Asia/Kolkata",
    "bangalore": "Asia/Kolkata",
    "bengaluru": "Asia/Kolkata",
    "nepal": "Asia/Kathmandu",
    "japan": "Asia/Tokyo",
    "beijing": "Asia/Shanghai",
    "germany": "Europe/Berlin",
    "munich": "Europe/Berlin",
    "france": "Europe/Paris",
    "italy": "Europe/Rome",
    "netherlands": "Europe/Amsterdam",
    "nyc": "America/New_York",
    "new york city": "America/New_York",
    "boston": "America/New_York",
    "san francisco": "America/Los_Angeles",
    "seattle": "America/Los_Angeles",
    "rio de janeiro": "America/Sao_Paulo",
    # POSIX-style keys are defined by US rules, so they are unambiguous; return the city key instead.
    "est5edt": "America/New_York",
    "cst6cdt": "America/Chicago",
    "mst7mdt": "America/Denver",
    "pst8pdt": "America/Los_Angeles",
}

# Non-whole UTC offsets (minutes east) with no Etc/ zone. Listed only where every zone that shows this
# offset during the year keeps the same clock all year (checked in tests/scheduler/test_zones.py), so the
# representative is right for anyone who types it. Left out on purpose: +9:30 (Darwin has no DST, Adelaide
# does) and +10:30 (Adelaide in summer, Lord Howe in winter).
_HALF_HOUR_OFFSETS: dict[int, str] = {
    -9 * 60 - 30: "Pacific/Marquesas",
    -3 * 60 - 30: "America/St_Johns",
    -2 * 60 - 30: "America/St_Johns",
    3 * 60 + 30: "Asia/Tehran",
    4 * 60 + 30: "Asia/Kabul",
    5 * 60 + 30: "Asia/Kolkata",  # Asia/Colombo keeps the same clock
    5 * 60 + 45: "Asia/Kathmandu",
    6 * 60 + 30: "Asia/Yangon",  # Indian/Cocos keeps the same clock
    8 * 60 + 45: "Australia/Eucla",
    12 * 60 + 45: "Pacific/Chatham",
    13 * 60 + 45: "Pacific/Chatham",
}

_OFFSET_RE = re.compile(
    r"(?:utc|gmt)?\s*(?P<sign>[+-])\s*(?P<h>[0-9]{1,2})(?::?(?P<m>[0-9]{2}))?",
    re.ASCII,
)


def _norm(text: str) -> str:
    """Case-, accent- and punctuation-insensitive form: "São_Paulo" / "sao paulo" -> "sao paulo"."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    stripped = re.sub(r"[.'’]", "", stripped)
    stripped = re.sub(r"\s*/\s*", "/", stripped)
    return re.sub(r"[\s_-]+", " ", stripped).strip()


def _read_tzdata(name: str) -> str:
    """A table shipped by the tzdata package, or "" if it is missing (then no canonicalisation)."""
    try:
        return resources.files("tzdata").joinpath("zoneinfo", name).read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError, OSError):
        return ""


@cache
def _canonical() -> dict[str, str]:
    """Map every available key to the key we return for it.

    Keys in zone.tab (one per country region: Europe/Oslo, Asia/Kolkata) stay as they are; backward names
    (Asia/Calcutta, US/Eastern, Japan) become their link target when that target is in zone.tab. Link targets
    are not followed in general, since tzdata links Europe/Oslo to Europe/Berlin and a user in Oslo should
    see Oslo.
    """
    preferred = {
        line.split("\t")[2]
        for line in _read_tzdata("zone.tab").splitlines()
        if line and not line.startswith("#") and line.count("\t") >= 2
    }
    links: dict[str, str] = {}
    for line in _read_tzdata("tzdata.zi").splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "L":
            links[parts[2]] = parts[1]
    result: dict[str, str] = {}
    for key in available_timezones():
        if key in _REFUSED_KEYS:
            continue
        target = links.get(key)
        result[key] = target if key not in preferred and target in preferred else key
    return result


@cache
def _indexes() -> tuple[dict[str, str], dict[str, str]]:
    """(normalised full key -> key, normalised city -> key), built once from available_timezones()."""
    canonical = _canonical()
    preferred = set(canonical.values())
    by_key: dict[str, str] = {}
    by_city: dict[str, str] = {}
    # Preferred keys first so that, e.g., "Buenos Aires" resolves to the zone.tab key, not a backward link.
    for key in sorted(canonical, key=lambda k: (k not in preferred, k)):
        by_key.setdefault(_norm(key), canonical[key])
        if "/" in key and key.split("/", 1)[0] in _REGIONS:
            by_city.setdefault(_norm(key.rsplit("/", 1)[1]), canonical[key])
    return by_key, by_city


def _parse_offset(text: str) -> str | None:
    """UTC+2 -> Etc/GMT-2 (Etc signs are inverted, POSIX style); +05:30 -> a real zone if unambiguous."""
    match = _OFFSET_RE.fullmatch(text)
    if match is None:
        return None
    hours, minutes = int(match["h"]), int(match["m"] or 0)
    if minutes > 59:
        return None
    total = (hours * 60 + minutes) * (-1 if match["sign"] == "-" else 1)
    if total == 0:
        return "UTC"
    if minutes == 0:
        if not -12 * 60 <= total <= 14 * 60:  # the range of Etc/ zones, and of real clocks
            return None
        return f"Etc/GMT{-total // 60:+d}"  # POSIX sign: UTC+2 is Etc/GMT-2
    return _HALF_HOUR_OFFSETS.get(total)


def _lookup(text: str) -> str | None:
    """Alias, then exact key, then city name, all on the normalised form."""
    norm = _norm(text)
    if not norm:
        return None
    if norm in _ALIASES:
        return _ALIASES[norm]
    by_key, by_city = _indexes()
    return by_key.get(norm) or by_city.get(norm)


def parse_timezone(text: str) -> str | None:
    """An IANA zone key from what a person types, or None when it is nonsense or ambiguous.

    Tried in order: "UTC"/"GMT" and a few unambiguous aliases ("UK", "India"); UTC offsets ("UTC+2",
    "GMT-5", "+05:30", "UTC+5:45"); exact keys in any case ("europe/berlin"); city names from the tz database
    ("New York", "new_york", "sao paulo", "Kathmandu"); and finally the part before a comma ("Berlin,
    Germany"). Abbreviations that mean several clocks ("EST", "CET", "IST", "PST") give None.
    """
    cleaned = _clean(text)
    if cleaned is None:
        return None
    cleaned = cleaned.replace("\u2212", "-")  # a typographic minus sign
    if _OFFSET_RE.fullmatch(cleaned):
        return _parse_offset(cleaned)
    found = _lookup(cleaned)
    if found is None and "," in cleaned:
        found = _lookup(cleaned.split(",", 1)[0])
    return found
