"""Provides dated reminders and the wording of follow-ups, shared by the CLI and the app.

A reminder lives in the contact's ``reminder`` field, which is private to this device (always
kept in the private documents, never synced). Rather than a second field, a dated reminder is
that text with the date in front: ``2026-03-14 ask about the book``; a reminder that does not
start with a date (every reminder written before dates existed) stays a plain text reminder,
shown as before and never due. So old reminders read as they always did, the contact form edits
a dated reminder as the text it is, and exports and history need nothing new.

A dated reminder is the contact's next follow-up: until it is done, the contact is due on the
reminder's date rather than by its follow-up cadence. Snoozing moves that date (a contact
without a dated reminder gets one, with no text: the follow-up is postponed). A reminder is done
when you say so (``plntui remind ID --done``, ``x`` in the app's Follow-ups), or when you log a
catch-up on or after its date; a reminder with no text (a snoozed follow-up) is done by the next
catch-up, whatever its date. Then the cadence takes over again.

Dates are typed as ``YYYY-MM-DD``, ``today``, ``tomorrow``, a weekday (the next one), or a
distance from today: ``3d``, ``2w``, ``1m`` (``+3d`` and a bare ``3``, days, too).
"""

from __future__ import annotations

import calendar
import datetime as _dt
import re
from dataclasses import dataclass
from typing import Any

from .errors import ValidationError

_DATED = re.compile(r"(\d{4}-\d{2}-\d{2})(?:\s+(.*))?", re.S)
_DISTANCE = re.compile(r"\+?(\d{1,4})\s*(d|days?|w|weeks?|m|months?)?")
_WEEKDAYS = {name.lower(): n for n, name in enumerate(calendar.day_name)}
_WEEKDAYS.update({name.lower(): n for n, name in enumerate(calendar.day_abbr)})
WHEN_HELP = "YYYY-MM-DD, today, tomorrow, a weekday, or from today: 3d, 2w, 1m"


@dataclass(frozen=True, slots=True)
class Reminder:
    text: str
    on: _dt.date | None = None
    """The day it is due (``None``: a plain text reminder, never due)."""

    def value(self) -> str:
        """The field's value: the date in front of the text."""
        return " ".join(p for p in (self.on.isoformat() if self.on else "", self.text) if p)

    def to_json(self) -> dict[str, Any]:
        return {"date": self.on.isoformat() if self.on else None, "text": self.text}


def read_reminder(value: Any) -> Reminder | None:
    """The reminder a ``reminder`` field holds (``None`` when empty)."""
    text = " ".join(str(value or "").split())
    if not text:
        return None
    match = _DATED.fullmatch(text)
    if match is not None:
        try:
            day = _dt.date.fromisoformat(match.group(1))
        except ValueError:
            return Reminder(text)  # "2026-13-01 …" is text that starts with digits
        return Reminder((match.group(2) or "").strip(), day)
    return Reminder(text)


def parse_when(text: str, today: _dt.date) -> _dt.date:
    """The day ``text`` names, today or later (see the module docstring); a
    ``ValidationError`` for anything else, a day in the past included."""
    word = " ".join(str(text or "").lower().split())
    day: _dt.date | None = None
    if word == "today":
        day = today
    elif word == "tomorrow":
        day = today + _dt.timedelta(days=1)
    elif word.removeprefix("next ") in _WEEKDAYS:
        ahead = (_WEEKDAYS[word.removeprefix("next ")] - today.weekday() - 1) % 7 + 1
        day = today + _dt.timedelta(days=ahead)
    elif (found := _DISTANCE.fullmatch(word)) is not None:
        count, unit = int(found.group(1)), (found.group(2) or "d")[0]
        if unit == "m":
            day = _add_months(today, count)
        else:
            day = today + _dt.timedelta(days=count * (7 if unit == "w" else 1))
    else:
        try:
            day = _dt.date.fromisoformat(word) if len(word) == 10 else None
        except ValueError:
            day = None
    if day is None or day.year > 2200:
        raise ValidationError(f"{text!r} is not a date (use {WHEN_HELP})", "date")
    if day < today:
        raise ValidationError(f"{day.isoformat()} is in the past", "date")
    return day


def _add_months(day: _dt.date, months: int) -> _dt.date:
    month = day.month - 1 + months
    year = day.year + month // 12
    month = month % 12 + 1
    if year > 2200:
        return _dt.date(2201, 1, 1)
    return _dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


# -- wording ---------------------------------------------------------------------------------------


def days_text(days: int) -> str:
    """``1`` -> "1 day", ``3`` -> "3 days"."""
    return "1 day" if days == 1 else f"{days} days"


def due_text(days_overdue: int) -> str:
    """How a follow-up stands, in days always: ``12`` -> "12 days overdue", ``0`` -> "due
    today", ``-1`` -> "due tomorrow", ``-3`` -> "due in 3 days"."""
    if days_overdue > 0:
        return f"{days_text(days_overdue)} overdue"
    if days_overdue == 0:
        return "due today"
    if days_overdue == -1:
        return "due tomorrow"
    return f"due in {days_text(-days_overdue)}"


def cadence_text(value: Any) -> str:
    """A follow-up cadence, in days always (``21`` -> "21 days", not "3 weeks" beside "120
    days")."""
    try:
        days = int(value)
    except (TypeError, ValueError):
        return ""
    return days_text(days) if days > 0 else ""


def when_text(day: _dt.date, today: _dt.date) -> str:
    """A day with how far it is: "2026-03-14 (in 3 days)", "2026-03-11 (today)"."""
    ahead = (day - today).days
    if ahead == 0:
        return f"{day.isoformat()} (today)"
    if ahead == 1:
        return f"{day.isoformat()} (tomorrow)"
    if ahead > 0:
        return f"{day.isoformat()} (in {days_text(ahead)})"
    return f"{day.isoformat()} ({days_text(-ahead)} ago)"
