"""Cron semantics checked against cron-utils' Quartz suite, a fourth published suite beside the
Cronos, Spring and Quartz cases of test_cron_suites.py.

Source: jmrozanec/cron-utils, src/test/java/com/cronutils/model/time/ExecutionTimeQuartzIntegrationTest.java
at commit b7e001dfa719b2da5484ad0b53870d1c10ce4136 (its parser uses CronType.QUARTZ: seconds first,
day-of-week 1 = Sunday). The cases are that file's own expressions, start times and expected
answers, each named after its test method; nothing is made up. cron-utils' nextExecution answers
"strictly after", so each case here starts one second later (xtimer's next_fire is "at or after").
Zones: the case's offset is read as a fixed zone (Etc/GMT+6 is UTC-06:00), as the suite's
ZonedDateTime carries it.

Where xtimer answers otherwise, the case is in the last section, with the choice docs/cron.md
documents ("Where cron dialects disagree").
"""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from chalicelib.timers import schedule as schedule_module
from chalicelib.timers.cron_fields import CronError
from chalicelib.timers.schedule import Schedule, parse_schedule


def epoch(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp())


def fires(monkeypatch: pytest.MonkeyPatch, cron: str, start: str, tz: str = "UTC", count: int = 1) -> list[str]:
    """The first `count` fires at or after `start` (ISO with an offset), shown in `tz` as ISO."""
    after = epoch(start)
    monkeypatch.setattr(schedule_module, "_now", lambda: after)
    schedule = parse_schedule(cron, tz)
    found = []
    for _ in range(count):
        fire = schedule.next_fire(after)
        assert fire is not None, cron
        found.append(datetime.fromtimestamp(fire, ZoneInfo(tz)).isoformat())
        after = fire + 1
    return found


CRON_UTILS = [
    # (test method, expression, start + 1 s, zone, expected fires)
    ("testDoesNotIgnoreMonthOrDayOfWeek", "0 11 11 11 11 ?", "2015-04-15T00:00:01+00:00", "UTC",
     ["2015-11-11T11:11:00+00:00"]),
    ("testShiftTo24thHour", "0/1 * * 1/1 * ? *", "2016-08-06T00:00:00+00:00", "UTC", ["2016-08-06T00:00:00+00:00"]),
    ("testShiftTo32ndDay", "0/1 * * 1/1 * ? *", "2015-02-01T00:00:00+00:00", "UTC", ["2015-02-01T00:00:00+00:00"]),
    ("testNextExecutionRightDoWForFixedMonth (SUN for Quartz's 1)", "0 * * ? 5 SUN *", "2016-03-06T20:17:29-03:00",
     "Etc/GMT+3", ["2016-05-01T00:00:00-03:00"]),
    ("testNextExecutionProducingInvalidValues", "0 0 18 ? * MON", "2016-03-18T19:02:52+09:00", "Asia/Tokyo",
     ["2016-03-21T18:00:00+09:00", "2016-03-28T18:00:00+09:00"]),
    ("testMultipleMinuteIntervalMatch (20:00 no match)", "* * 21-23,0-4 * * ?", "2014-09-20T20:00:00+00:00", "UTC",
     ["2014-09-20T21:00:00+00:00"]),
    ("testMultipleMinuteIntervalMatch (00:00 matches)", "* * 21-23,0-4 * * ?", "2014-09-20T00:00:00+00:00", "UTC",
     ["2014-09-20T00:00:00+00:00"]),
    ("testMultipleMinuteIntervalMatch (04:00 matches)", "* * 21-23,0-4 * * ?", "2014-09-20T04:00:00+00:00", "UTC",
     ["2014-09-20T04:00:00+00:00"]),
    ("testMultipleMinuteIntervalMatch (05:00 no match)", "* * 21-23,0-4 * * ?", "2014-09-20T05:00:00+00:00", "UTC",
     ["2014-09-20T21:00:00+00:00"]),
    ("testDayLightSavingsSwitch (before the gap)", "* 0/2 * * * ?", "2016-03-13T02:00:00-07:00", "America/Denver",
     ["2016-03-13T03:00:00-06:00"]),
    ("testDayLightSavingsSwitch (after the gap)", "* 0/2 * * * ?", "2016-03-13T03:01:01-06:00", "America/Denver",
     ["2016-03-13T03:02:00-06:00"]),
    ("testDayLightSavingsSwitch (the next day)", "* 0/2 * * * ?", "2016-03-14T00:01:00+00:00", "UTC",
     ["2016-03-14T00:02:00+00:00"]),
    ("bigNumbersOnDayOfMonthField", "0 0 0 31 * ?", "2016-11-01T00:00:01+00:00", "UTC", ["2016-12-31T00:00:00+00:00"]),
    ("noSpecificDayOfMonthEvaluatedOnLastDay", "0 * * ? * *", "2016-08-31T10:10:01+00:00", "UTC",
     ["2016-08-31T10:11:00+00:00"]),
    ("noSpecificDayOfMonth", "0 * * ? * *", "2016-08-30T23:59:01+00:00", "UTC", ["2016-08-31T00:00:00+00:00"]),
    ("testCronWithFirstWorkDayOfWeek", "0 0 12 1W * ? *", "2016-03-29T00:01:00+00:00", "UTC",
     ["2016-04-01T12:00:00+00:00"]),
    ("testDayOfWeekMapping (names)", "0 0 12 ? * MON,TUE,WED,THU,FRI *", "2016-04-22T00:00:01+00:00", "UTC",
     ["2016-04-22T12:00:00+00:00"]),
    ("noDateTimeExceptionIsThrown... THU from Wednesday", "0 0/1 * ? * THU", "2016-11-09T01:01:01+00:00", "UTC",
     ["2016-11-10T00:00:00+00:00"]),
    ("noDateTimeExceptionIsThrown... THU,SAT from Wednesday", "0 0/1 * ? * THU,SAT", "2016-11-09T01:01:01+00:00",
     "UTC", ["2016-11-10T00:00:00+00:00"]),
    ("noDateTimeExceptionIsThrown... THU-FRI from Wednesday", "0 0/1 * ? * THU-FRI", "2016-11-09T01:01:01+00:00",
     "UTC", ["2016-11-10T00:00:00+00:00"]),
    ("noDateTimeExceptionIsThrown... THU late on a Thursday", "0 0/1 * ? * THU", "2016-10-27T23:55:01+00:00", "UTC",
     ["2016-10-27T23:56:00+00:00"]),
    ("noDateTimeExceptionIsThrown... THU at the end of Thursday", "0 0/1 * ? * THU", "2016-11-03T23:59:01+00:00",
     "UTC", ["2016-11-10T00:00:00+00:00"]),
    ("noDateTimeExceptionIsThrown... THU,SAT at the end of Saturday", "0 0/1 * ? * THU,SAT",
     "2016-11-05T23:59:01+00:00", "UTC", ["2016-11-10T00:00:00+00:00"]),
    ("noDateTimeExceptionIsThrown... THU-FRI at the end of Friday", "0 0/1 * ? * THU-FRI",
     "2016-11-04T23:59:01+00:00", "UTC", ["2016-11-10T00:00:00+00:00"]),
    ("testNextExecutionTimeProperlySet", "0 5/15 * * * ? *", "2016-07-30T15:00:01+00:00", "UTC",
     ["2016-07-30T15:05:00+00:00"]),
    ("testNextExecutionTimeProperlySet2", "0 3/27 10-14 * * ? *", "2016-01-01T10:00:01+00:00", "UTC",
     ["2016-01-01T10:03:00+00:00"]),
    ("testPeriodicIncrementalHoursIgnorePeriodBounds", "0 0 16-19/2 * * ?", "2016-12-27T08:15:01+00:00", "UTC",
     ["2016-12-27T16:00:00+00:00", "2016-12-27T18:00:00+00:00", "2016-12-28T16:00:00+00:00",
      "2016-12-28T18:00:00+00:00", "2016-12-29T16:00:00+00:00"]),
    ("mustJumpToNextMonthIfCurrentMonthDoesNotHaveDesiredDay", "0 0 8 31 * ?", "2017-04-10T00:00:01+00:00", "UTC",
     ["2017-05-31T08:00:00+00:00"]),
    ("mustJumpToEndOfMonthIfCurrentMonthHasDesiredDay", "0 0 8 31 * ?", "2017-01-10T00:00:01+00:00", "UTC",
     ["2017-01-31T08:00:00+00:00"]),
]


@pytest.mark.parametrize(("method", "cron", "start", "tz", "expected"), CRON_UTILS, ids=[c[0] for c in CRON_UTILS])
def test_cron_utils_quartz_next_executions(monkeypatch: pytest.MonkeyPatch, method: str, cron: str, start: str,
                                           tz: str, expected: list[str]) -> None:
    assert fires(monkeypatch, cron, start, tz, count=len(expected)) == expected


def test_cron_utils_refuses_a_question_mark_in_the_month_field_and_so_does_xtimer() -> None:
    """testIllegalQuestionMarkValue: "0 0 12 1W ? *" is an IllegalArgumentException there."""
    with pytest.raises(CronError, match="'[?]' is only allowed in day-of-month or day-of-week"):
        parse_schedule("0 0 12 1W ? *", "UTC")


def test_cron_utils_describes_sunday_in_words_and_so_does_xtimer() -> None:
    """descriptionForExpressionTellsWrongDoW: "0 0 8 ? * SUN *" is "at 08:00 at Sunday day" there."""
    assert parse_schedule("0 0 8 ? * SUN *", "UTC").describe() == "At 08:00, only on Sunday"


# --- Where xtimer answers otherwise: the choices of docs/cron.md ("Where cron dialects disagree") ------


@pytest.mark.parametrize(("quartz", "xtimer", "start", "expected"), [
    # testNextExecutionRightDoWForFixedMonth: Quartz's 1 is Sunday
    ("0 * * ? 5 1 *", "0 * * ? 5 0 *", "2016-03-06T20:17:29-03:00", "2016-05-01T00:00:00-03:00"),
    # noDateTimeExceptionIsThrown...: Quartz's 5 is Thursday, 2,5 Monday and Thursday, 5-6 Thursday-Friday
    ("0 0/1 * ? * 5", "0 0/1 * ? * 4", "2016-11-03T23:59:01+00:00", "2016-11-10T00:00:00+00:00"),
    ("0 0/1 * ? * 2,5", "0 0/1 * ? * 1,4", "2016-11-07T23:59:01+00:00", "2016-11-10T00:00:00+00:00"),
    ("0 0/1 * ? * 5-6", "0 0/1 * ? * 4-5", "2016-11-04T23:59:01+00:00", "2016-11-10T00:00:00+00:00"),
])
def test_day_of_week_numbers_are_one_less_than_quartz_s(monkeypatch: pytest.MonkeyPatch, quartz: str, xtimer: str,
                                                        start: str, expected: str) -> None:
    """xtimer numbers days as cron does (0 or 7 Sunday, 1 Monday): Quartz's N is xtimer's N-1, and
    Quartz's expression, read here, fires one day later."""
    zone = "Etc/GMT+3" if start.endswith("-03:00") else "UTC"
    assert fires(monkeypatch, xtimer, start, zone) == [expected]
    assert fires(monkeypatch, quartz, start, zone) != [expected]


def test_l_alone_in_day_of_week_is_refused_where_quartz_reads_saturday() -> None:
    """lastDayOfTheWeek: "0 0 0 ? * L *" fires on Saturday 2016-12-24 in Quartz and cron-utils;
    others read L as Sunday, so xtimer refuses it and says what to write."""
    with pytest.raises(CronError, match="write SAT or 6 for every Saturday"):
        parse_schedule("0 0 0 ? * L *", "UTC")


def test_a_first_fire_more_than_ten_years_ahead_is_refused_though_the_engine_finds_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """testExecutionTimeForRanges: "* 10-20 * * * ? 2099" from 2016 answers minute 10 of 2099 there.
    xtimer's engine finds the same fire; a new timer whose first fire is over 10 years away is
    refused as a likely typo (at(...) has no such limit)."""
    start = epoch("2016-02-29T11:00:01-06:00")
    fire = Schedule("* 10-20 * * * ? 2099", "Etc/GMT+6").next_fire(start)
    assert fire is not None
    assert datetime.fromtimestamp(fire, ZoneInfo("Etc/GMT+6")).isoformat() == "2099-01-01T00:10:00-06:00"
    monkeypatch.setattr(schedule_module, "_now", lambda: start)
    with pytest.raises(CronError, match="never fires within the next 10 years"):
        parse_schedule("* 10-20 * * * ? 2099", "Etc/GMT+6")
