"""Game time: tick ↔ date-time."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class GameClock:
    start: dt.datetime
    tick_seconds: int

    def time_at(self, tick: int) -> dt.datetime:
        return self.start + dt.timedelta(seconds=tick * self.tick_seconds)

    def label(self, tick: int) -> str:
        return self.time_at(tick).strftime("%Y-%m-%d %H:%M")

    def minute_of_day(self, tick: int) -> int:
        t = self.time_at(tick)
        return t.hour * 60 + t.minute

    def date(self, tick: int) -> str:
        return self.time_at(tick).strftime("%Y-%m-%d")

    def ticks_for_minutes(self, minutes: float) -> int:
        return max(1, round(minutes * 60 / self.tick_seconds))

    def ticks_for_hours(self, hours: float) -> int:
        return round(hours * 3600 / self.tick_seconds)

    def tick_of(self, when: dt.datetime) -> int:
        return int((when - self.start).total_seconds() // self.tick_seconds)
