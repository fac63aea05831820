"""Game time: tick ↔ date-time, and the two ways it is written — "YYYY-MM-DD HH:MM" labels and "HH:MM" times of day."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

LABEL_FORMAT = "%Y-%m-%d %H:%M"
"""A moment of game time as frames, prompts and event briefs write it."""
DAY_MINUTES = 24 * 60


def parse_label(label: str) -> dt.datetime:
    return dt.datetime.strptime(label, LABEL_FORMAT)


def format_label(moment: dt.datetime) -> str:
    return moment.strftime(LABEL_FORMAT)


def minute_of(hhmm: str) -> int:
    """Minutes since midnight of a time of day written "HH:MM" (or "H:MM")."""
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def hhmm(minute: int) -> str:
    """A minute of the day as "HH:MM"; minutes past midnight wrap to the next day's."""
    minute %= DAY_MINUTES
    return f"{minute // 60:02d}:{minute % 60:02d}"


def minute_of_day(moment: dt.datetime) -> int:
    return moment.hour * 60 + moment.minute


@dataclass(frozen=True)
class GameClock:
    start: dt.datetime
    tick_seconds: int

    def time_at(self, tick: int) -> dt.datetime:
        return self.start + dt.timedelta(seconds=tick * self.tick_seconds)

    def label(self, tick: int) -> str:
        return format_label(self.time_at(tick))

    def minute_of_day(self, tick: int) -> int:
        return minute_of_day(self.time_at(tick))

    def date(self, tick: int) -> str:
        return self.time_at(tick).strftime("%Y-%m-%d")

    def ticks_for_minutes(self, minutes: float) -> int:
        return max(1, round(minutes * 60 / self.tick_seconds))

    def ticks_for_hours(self, hours: float) -> int:
        return round(hours * 3600 / self.tick_seconds)

    def tick_of(self, when: dt.datetime) -> int:
        return int((when - self.start).total_seconds() // self.tick_seconds)
