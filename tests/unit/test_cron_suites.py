"""Cron semantics checked against published cron test suites, not against croniter (the library
this service used to compute fires with cannot be its own judge).

Each case is (expression, from, expected next fire at or after `from`), in UTC unless it says
otherwise. Where the suite's engine answers "strictly after", the case starts one second later.
Where dialects disagree, the last section pins the choice documented in docs/cron.md.
"""
from __future__ import annotations

from datetime import datetime

import pytest

from chalicelib.timers import schedule as schedule_module
from chalicelib.timers.schedule import parse_schedule


def at(text: str, tz: str = "+00:00") -> int:
    """Epoch seconds of "YYYY-MM-DD[ HH:MM[:SS]]" (an offset may follow)."""
    if "T" not in text and " " not in text:
        text += " 00:00"
    if text.count(":") == 1 or (text.count(":") == 2 and text[-6] in "+-"):
        text = text[:16] + ":00" + text[16:]
    return int(datetime.fromisoformat(text if text[-6] in "+-" else text + tz).timestamp())


def next_fire(monkeypatch: pytest.MonkeyPatch, cron: str, start: int, tz: str = "UTC") -> int | None:
    monkeypatch.setattr(schedule_module, "_now", lambda: start)  # "now" is the case's start
    return parse_schedule(cron, tz).next_fire(start)


def day(time_of_day: str) -> str:
    """Cronos's time-only cases run on one day; any day without a clock change will do."""
    return "2016-12-09 " + time_of_day


# --- Cronos: tests/Cronos.Tests/CronExpressionFacts.cs (HangfireIO/Cronos), GetNextOccurrence cases ----
# Cronos reads six fields seconds first with 0 (or 7) = Sunday, as xtimer does, and is inclusive.
CRONOS = [
    # wrapping ranges with steps carry the step through the wrap (croniter restarts it)
    ("* * 23-3/2 * * *", day("17:30"), day("23:00")),
    ("* * 23-3/2 * * *", day("00:30"), day("01:00")),
    ("* * 23-3/2 * * *", day("02:00"), day("03:00")),
    ("* * 23-3/2 * * *", day("04:00"), day("23:00")),
    ("57-5/3 * * * * ?", day("17:36:06"), day("17:36:57")),
    ("57-5/3 * * * * ?", day("17:36:58"), day("17:37:00")),
    ("57-5/3 * * * * ?", day("17:37:01"), day("17:37:03")),
    ("57-5/3 * * * * ?", day("17:37:04"), day("17:37:57")),
    ("* 56-4/4 * * * *", day("17:55"), day("17:56")),
    ("* 56-4/4 * * * *", day("17:57"), day("18:00")),
    ("* 56-4/4 * * * *", day("18:01"), day("18:04")),
    ("* 56-4/4 * * * *", day("18:05"), day("18:56")),
    ("* 51-4 * * * *", day("17:35"), day("17:51")),
    ("* 51-4 * * * *", day("18:05"), day("18:51")),
    ("* * * 20-5/5 * *", "2017-05-19", "2017-05-20"),
    ("* * * 20-5/5 * *", "2017-05-21", "2017-05-25"),
    ("* * * 20-5/5 * *", "2017-05-26", "2017-05-30"),
    ("* * * 20-5/5 * *", "2017-06-01", "2017-06-04"),
    ("* * * 20-5/5 * *", "2017-06-05", "2017-06-20"),
    ("* * * 20-5/5 * *", "2018-02-26", "2018-03-04"),
    ("* * * * 9-8/3 *", "2016-07-19", "2016-09-01"),
    ("* * * * 9-8/3 *", "2016-10-19", "2016-12-01"),
    ("* * * * 9-8/3 *", "2017-01-19", "2017-03-01"),
    ("* * * * 9-8/3 *", "2017-04-19", "2017-06-01"),
    ("* * * * 12-2 *", "2016-05-19", "2016-12-01"),
    ("* * * * 12-2 *", "2017-03-19", "2017-12-01"),
    ("* * * ? * sat-tue/2", "2016-12-10", "2016-12-10"),
    ("* * * ? * sat-tue/2", "2016-12-11", "2016-12-12"),
    ("* * * ? * sat-tue/2", "2016-12-12", "2016-12-12"),
    ("* * * ? * sat-tue/2", "2016-12-13", "2016-12-17"),
    ("* * * * * tue/2", "2016-12-09", "2016-12-10"),
    ("* * * * * tue/2", "2016-12-11", "2016-12-13"),
    ("* * * * * */5", "2016-12-10", "2016-12-11"),
    ("* * * * * */5", "2016-12-12", "2016-12-16"),
    ("* * * * * 4-7", "2016-12-11", "2016-12-11"),
    ("* * * * * 4-7", "2016-12-12", "2016-12-15"),
    ("00 00 00 11 12 7", "2016-12-09", "2016-12-11"),
    # L in day-of-month
    ("* * * L * *", "2016-02-05", "2016-02-29"),
    ("* * * L * *", "2017-02-28", "2017-02-28"),
    ("* * * L * *", "2016-04-05", "2016-04-30"),
    ("* * * L-1 * *", "2016-01-31", "2016-02-28"),
    ("* * * L-1 * *", "2017-02-01", "2017-02-27"),
    ("* * * L-2 * *", "2016-12-30", "2017-01-29"),
    ("* * * L-28 * *", "2017-02-01", "2017-03-03"),
    ("* * * L-30 * *", "2016-04-01", "2016-05-01"),
    # L in day-of-week: the month's last such weekday
    ("* * * * * 0L", "2017-01-01", "2017-01-29"),
    ("* * * * * 5L", "2017-01-01", "2017-01-27"),
    ("* * * * * FRIL", "2017-01-01", "2017-01-27"),
    ("* * * * * SATL", "2017-01-01", "2017-01-28"),
    ("* * * * * 7L", "2016-12-31", "2017-01-29"),
    # '#': the month's n-th such weekday
    ("* * * * * 0#1", "2016-12-10", "2017-01-01"),
    ("* * * * * 5#3", "2017-01-21", "2017-02-17"),
    ("* * * * * 2#5", "2017-02-01", "2017-05-30"),
    ("* * * * * SUN#1", "2017-01-01", "2017-01-01"),
    # W: the weekday nearest a day, never leaving its month
    ("* * * 1W * *", "2017-01-01", "2017-01-02"),
    ("* * * 7W * *", "2017-01-07", "2017-02-07"),
    ("* * * 30W * *", "2017-04-29", "2017-05-30"),
    ("* * * 1W * *", "2017-04-01", "2017-04-03"),
    ("0 30 17 31W * *", "2018-03-30 17:45", "2018-05-31 17:30"),
    ("0 30 17 15W * *", "2016-12-30 17:45", "2017-01-16 17:30"),
    ("0 30,55 17 7W * *", "2017-01-06 17:45", "2017-01-06 17:55"),
    # LW and L-nW
    ("* * * LW * *", "2017-09-01", "2017-09-29"),
    ("* * * LW * *", "2017-09-30", "2017-10-31"),
    ("* * * LW * *", "2017-04-29", "2017-05-31"),
    ("* * * L-1W * *", "2017-01-01", "2017-01-30"),
    ("* * * L-3W * *", "2017-01-01", "2017-01-27"),
    ("* * * L-2W * *", "2016-02-01", "2016-02-26"),
    ("* * * L-0W * *", "2017-02-01", "2017-02-28"),
]


@pytest.mark.parametrize(("cron", "start", "expected"), CRONOS)
def test_cronos_next_occurrences(monkeypatch: pytest.MonkeyPatch, cron: str, start: str, expected: str) -> None:
    assert next_fire(monkeypatch, cron, at(start)) == at(expected)


# --- Spring: spring-context/src/test/java/org/springframework/scheduling/support/CronExpressionTests.java
# (spring-projects/spring-framework). Spring's next() is strictly after, so each step starts one second
# after the previous fire; its day-of-week numbering is xtimer's (0 or 7 = Sunday).
SPRING_SEQUENCES = [
    ("0 0 0 L * *", "2008-01-04 12:00", ["2008-01-31", "2008-02-29", "2008-03-31", "2008-04-30"]),
    ("0 0 0 L-3 * *", "2008-01-04 12:00", ["2008-01-28", "2008-02-26", "2008-03-28", "2008-04-27"]),
    ("0 0 0 LW * *", "2008-01-04 12:00",
     ["2008-01-31", "2008-02-29", "2008-03-31", "2008-04-30", "2008-05-30", "2008-06-30", "2008-07-31",
      "2008-08-29", "2008-09-30", "2008-10-31", "2008-11-28", "2008-12-31"]),
    ("0 0 0 * * 5L", "2008-01-04 12:00",
     ["2008-01-25", "2008-02-29", "2008-03-28", "2008-04-25", "2008-05-30", "2008-06-27", "2008-07-25",
      "2008-08-29", "2008-09-26", "2008-10-31", "2008-11-28", "2008-12-26"]),
    ("0 0 0 15W * ?", "2020-01-01", ["2020-01-15", "2020-02-14", "2020-03-16", "2020-04-15"]),
    ("0 0 0 1W * ?", "2019-12-31", ["2020-01-01", "2020-02-03", "2020-03-02", "2020-04-01"]),
    ("0 0 0 1W * ?", "2022-01-01", ["2022-01-03"]),
    ("0 0 0 1W * ?", "2021-08-01", ["2021-08-02"]),
    ("0 0 0 31W * ?", "2020-06-01", ["2020-07-31", "2020-08-31", "2020-10-30", "2020-12-31"]),
    ("0 0 0 ? * 5#2", "2020-01-01", ["2020-01-10", "2020-02-14", "2020-03-13", "2020-04-10"]),
    ("0 0 0 ? * FRI#2", "2020-01-01", ["2020-01-10", "2020-02-14", "2020-03-13", "2020-04-10"]),
    ("0 0 0 ? * 3#5", "2020-01-01", ["2020-01-29", "2020-04-29", "2020-07-29", "2020-09-30", "2020-12-30"]),
    ("0 0 0 1W,15,LW * ?", "2019-12-30", ["2019-12-31", "2020-01-01", "2020-01-15", "2020-01-31"]),
    ("0 0 0 ? * THU#1,THU#3,THU#5", "2019-12-31", ["2020-01-02", "2020-01-16", "2020-01-30"]),
    ("0 0 * L * *", "2021-01-30 00:01", ["2021-01-31 00:00"]),
    ("0 0 * L * *", "2021-01-31 01:00", ["2021-01-31 02:00"]),
    ("0 0 * L-1 * *", "2021-01-29 00:01", ["2021-01-30 00:00"]),
    ("0 0 * 1W * *", "2021-01-31 00:01", ["2021-02-01 00:00"]),
    ("0 0 * LW * *", "2021-01-28 00:01", ["2021-01-29 00:00"]),
    ("0 0 * ? * FRI#5", "2021-01-28 00:01", ["2021-01-29 00:00"]),
    ("0 0 * ? * FRIL", "2021-01-29 01:00", ["2021-01-29 02:00"]),
    ("0 0 0 ? * SUN-FRI", "2021-02-25 15:00", ["2021-02-26", "2021-02-28"]),
    ("0 30 23 30 1/3 ?", "2010-12-30 23:45", ["2011-01-30 23:30", "2011-04-30 23:30", "2011-07-30 23:30"]),
    ("*/28 56 22 */6 * *", "2022-02-27 08:00:42", ["2022-03-01 22:56"]),
    ("0 0 0 29 2 *", "2007-02-10", ["2008-02-29", "2012-02-29"]),
    ("0 0 0 31 * *", "2023-10-30", ["2023-10-31"]),
]


@pytest.mark.parametrize(("cron", "start", "expected"), SPRING_SEQUENCES)
def test_spring_next_fires(monkeypatch: pytest.MonkeyPatch, cron: str, start: str, expected: list[str]) -> None:
    got, after = [], at(start)
    for _ in expected:
        fire = next_fire(monkeypatch, cron, after + 1)
        assert fire is not None
        got.append(fire)
        after = fire
    assert got == [at(e) for e in expected]


def test_spring_daily_fire_keeps_its_wall_clock_time_across_amsterdam_dst(monkeypatch: pytest.MonkeyPatch) -> None:
    ams = "Europe/Amsterdam"
    assert next_fire(monkeypatch, "0 0 9 * * *", at("2021-03-27 09:00:01+01:00"), ams) == at("2021-03-28 09:00+02:00")
    assert next_fire(monkeypatch, "0 0 9 * * *", at("2021-10-30 09:00:01+02:00"), ams) == at("2021-10-31 09:00+01:00")
    assert next_fire(monkeypatch, "0 5 0 * * *", at("2021-03-28 01:00+01:00"), ams) == at("2021-03-29 00:05+02:00")


# --- Quartz: quartz/src/test/java/org/quartz/CronExpressionTest.java (quartz-scheduler/quartz),
# testLastDayOffset: its isSatisfiedBy cases, as the next fire from the month's first day.
QUARTZ = [
    ("0 15 10 L-2 * ? 2010", "2010-10-01", "2010-10-29 10:15"),
    ("0 15 10 L-5W * ? 2010", "2010-10-01", "2010-10-26 10:15"),
    ("0 15 10 L-1 * ? 2010", "2010-10-01", "2010-10-30 10:15"),
    ("0 15 10 L-1W * ? 2010", "2010-10-01", "2010-10-29 10:15"),  # the 30th is a Saturday
]


@pytest.mark.parametrize(("cron", "start", "expected"), QUARTZ)
def test_quartz_last_day_offsets(monkeypatch: pytest.MonkeyPatch, cron: str, start: str, expected: str) -> None:
    assert next_fire(monkeypatch, cron, at(start)) == at(expected)


def test_quartz_last_day_offset_never_repeats_a_fire(monkeypatch: pytest.MonkeyPatch) -> None:
    """QTZ-259 (same file): L-2 and LW must move on every time."""
    for cron in ("0 0 0 L-2 * ? *", "0 0 0 LW * ? *"):
        fire = at("2024-01-01")
        for _ in range(25):
            following = next_fire(monkeypatch, cron, fire + 1)
            assert following is not None and following > fire
            fire = following


# --- Where the dialects disagree: the choices docs/cron.md documents ------------------------------

def test_day_of_week_numbers_are_cron_s_not_quartz_s(monkeypatch: pytest.MonkeyPatch) -> None:
    """1 is Monday here (cron, Spring, Cronos, cronexpr); in Quartz 1 is Sunday. The description says it in words."""
    assert next_fire(monkeypatch, "0 0 9 ? * 1", at("2026-03-01")) == at("2026-03-02 09:00")  # a Monday
    assert "Monday" in parse_schedule("0 0 9 ? * 1").describe()


def test_both_day_fields_restricted_fire_on_either_as_in_unix_cron(monkeypatch: pytest.MonkeyPatch) -> None:
    """Spring and Cronos AND the two day fields and Quartz refuses them; xtimer keeps cron's OR, so
    Spring's `various` case (the 1st or 15th AND the first Saturday) fires on the 15th itself here."""
    cron = "3-57 13-28 17,18 1,15 3-12 6#1"
    assert next_fire(monkeypatch, cron, at("2022-09-15 17:44:11")) == at("2022-09-15 18:13:03")  # Spring: 10-01 17:13:03


def test_a_time_in_the_spring_forward_gap_fires_at_the_gap_s_end(monkeypatch: pytest.MonkeyPatch) -> None:
    """Spring skips 02:10 on the day it does not exist (next fire the day after); xtimer fires it at
    03:00, the first instant after the gap, as Vixie cron does."""
    assert next_fire(monkeypatch, "0 10 2 * * *", at("2013-03-31 01:09+01:00"), "Europe/Amsterdam") == \
        at("2013-03-31 03:00+02:00")  # Spring: 2013-04-01T02:10+02:00


def test_a_sunday_31st_moves_back_to_friday_as_in_quartz(monkeypatch: pytest.MonkeyPatch) -> None:
    """31W in May 2020 (the 31st is a Sunday): Quartz fires on Friday the 29th, Spring skips the month."""
    assert next_fire(monkeypatch, "0 0 0 31W * ?", at("2020-04-01")) == at("2020-05-29")  # Spring: 2020-07-31


def test_description_matches_what_fires_for_wrapping_steps() -> None:
    assert parse_schedule("0 0 23-3/2 * * *").describe() == "At 23:00, 01:00 and 03:00"
    assert parse_schedule("0 0 0 ? * SAT-TUE/2").describe() == "At 00:00, only on Saturday and Monday"
    assert "day 20, 25, 30, and 4 of the month" in parse_schedule("0 0 0 20-5/5 * ?").describe()
    assert "September, December, March, and June" in parse_schedule("0 0 0 1 9-8/3 ?").describe()


def test_a_year_step_beyond_the_search_horizon_keeps_firing(monkeypatch: pytest.MonkeyPatch) -> None:
    start = at("2026-03-01")
    monkeypatch.setattr(schedule_module, "_now", lambda: start)
    schedule = parse_schedule("0 0 0 1 1 ? 2027-2099/30")
    assert schedule.next_fires(start, 5) == [at("2027-01-01"), at("2057-01-01"), at("2087-01-01")]
