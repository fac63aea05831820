from __future__ import annotations

import datetime as dt

from luotuo_rpg.world.clock import GameClock


def test_ticks_map_to_game_time():
    clock = GameClock(dt.datetime(2026, 3, 1, 6, 0), 10)
    assert clock.label(0) == "2026-03-01 06:00"
    assert clock.label(6) == "2026-03-01 06:01"
    assert clock.ticks_for_hours(24) == 8640
    assert clock.minute_of_day(8640) == 6 * 60
    assert clock.date(8640) == "2026-03-02"
    assert clock.tick_of(dt.datetime(2026, 3, 1, 7, 0)) == 360
    assert clock.ticks_for_minutes(15) == 90
