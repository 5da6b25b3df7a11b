"""Tests for chalicelib.timers.schedule: fire times are checked against hand-computed instants."""
from __future__ import annotations

import time
from datetime import datetime

import pytest

from chalicelib.timers import schedule as schedule_module
from chalicelib.timers.schedule import NO_REPEAT, CronError, Schedule, parse_schedule

T0 = 1772323200  # 2026-03-01T00:00:00Z, a Sunday
DAY = 86400


def ts(iso: str) -> int:
    """Epoch seconds of an ISO-8601 instant with an explicit offset."""
    return int(datetime.fromisoformat(iso).timestamp())


@pytest.fixture(autouse=True)
def fixed_now(monkeypatch: pytest.MonkeyPatch) -> None:
    """parse_schedule rejects schedules with no future fire; "now" is pinned to T0."""
    monkeypatch.setattr(schedule_module, "_now", lambda: T0)


def fires(cron: str, count: int = 3, after: int = T0, tz: str = "UTC") -> list[int]:
    return parse_schedule(cron, tz).next_fires(after, count)


def test_reference_instant_is_march_first_2026_utc() -> None:
    assert ts("2026-03-01T00:00:00+00:00") == T0


# --- accepted forms -------------------------------------------------------------------------

def test_five_fields_are_minute_hour_day_month_weekday() -> None:
    assert fires("*/15 * * * *") == [T0, T0 + 900, T0 + 1800]
    assert fires("30 9 * * *") == [ts("2026-03-01T09:30:00+00:00"), ts("2026-03-02T09:30:00+00:00"),
                                    ts("2026-03-03T09:30:00+00:00")]


def test_six_fields_read_seconds_first() -> None:
    assert fires("*/5 * * * * *") == [T0, T0 + 5, T0 + 10]
    assert fires("15 30 9 * * *", 2) == [ts("2026-03-01T09:30:15+00:00"), ts("2026-03-02T09:30:15+00:00")]


def test_six_fields_with_second_zero_fire_every_two_minutes() -> None:
    assert fires("0 */2 * * * *") == [T0, T0 + 120, T0 + 240]


def test_six_fields_ending_in_star_mean_second_zero_of_minute_twelve_of_every_hour() -> None:
    # Minute-first-with-year would read this as 12:00 daily; the contract says seconds first.
    assert fires("0 12 * * * *") == [T0 + 720, T0 + 3600 + 720, T0 + 7200 + 720]


def test_eventbridge_style_six_fields_are_rejected_not_misread() -> None:
    with pytest.raises(CronError) as err:
        parse_schedule("0 12 * * ? *")
    message = str(err.value)
    assert "month field '?'" in message
    assert "seconds first" in message and "EventBridge" in message


def test_seven_fields_read_seconds_first_and_year_last() -> None:
    one_off = parse_schedule("0 30 9 1 6 ? 2027")
    assert one_off.next_fires(T0, 5) == [ts("2027-06-01T09:30:00+00:00")]
    assert fires("0 0 12 * * ? *", 2) == [ts("2026-03-01T12:00:00+00:00"), ts("2026-03-02T12:00:00+00:00")]


def test_seven_fields_accept_year_ranges_with_steps() -> None:
    assert fires("0 0 0 1 1 ? 2027-2031/2", 5) == [
        ts("2027-01-01T00:00:00+00:00"), ts("2029-01-01T00:00:00+00:00"), ts("2031-01-01T00:00:00+00:00")]


def test_question_mark_means_any_day() -> None:
    mondays = [ts("2026-03-02T09:00:00+00:00"), ts("2026-03-09T09:00:00+00:00")]
    assert fires("0 0 9 ? * MON", 2) == mondays
    assert fires("0 9 ? * MON", 2) == mondays
    assert fires("0 9 * * ?", 2) == [ts("2026-03-01T09:00:00+00:00"), ts("2026-03-02T09:00:00+00:00")]


def test_month_and_day_names_are_case_insensitive() -> None:
    assert fires("0 0 1 jan *", 2) == [ts("2027-01-01T00:00:00+00:00"), ts("2028-01-01T00:00:00+00:00")]
    assert fires("0 8 * MAR Mon-Fri", 2) == [ts("2026-03-02T08:00:00+00:00"), ts("2026-03-03T08:00:00+00:00")]


def test_day_of_week_seven_is_sunday() -> None:
    assert fires("0 0 * * 7", 2) == [T0, T0 + 7 * DAY]


def test_day_ranges_may_wrap_around_the_week() -> None:
    assert fires("0 0 * * FRI-MON", 4) == [T0, T0 + DAY, T0 + 5 * DAY, T0 + 6 * DAY]


def test_both_day_fields_restricted_fire_on_either_day() -> None:
    # Unix semantics: the 10th (a Tuesday) OR any Friday.
    assert fires("0 0 10 * 5", 3) == [ts("2026-03-06T00:00:00+00:00"), ts("2026-03-10T00:00:00+00:00"),
                                      ts("2026-03-13T00:00:00+00:00")]


def test_lists_ranges_and_start_steps() -> None:
    assert fires("10/20 * * * *") == [T0 + 600, T0 + 1800, T0 + 3000]
    assert fires("0,30 9-10 * * *", 4) == [T0 + 9 * 3600, T0 + 9 * 3600 + 1800, T0 + 10 * 3600,
                                           T0 + 10 * 3600 + 1800]


@pytest.mark.parametrize(("macro", "first", "second"), [
    ("@yearly", "2027-01-01T00:00:00", "2028-01-01T00:00:00"),
    ("@annually", "2027-01-01T00:00:00", "2028-01-01T00:00:00"),
    ("@monthly", "2026-03-01T00:00:00", "2026-04-01T00:00:00"),
    ("@weekly", "2026-03-01T00:00:00", "2026-03-08T00:00:00"),
    ("@daily", "2026-03-01T00:00:00", "2026-03-02T00:00:00"),
    ("@midnight", "2026-03-01T00:00:00", "2026-03-02T00:00:00"),
    ("@hourly", "2026-03-01T00:00:00", "2026-03-01T01:00:00"),
    ("@Daily", "2026-03-01T00:00:00", "2026-03-02T00:00:00"),
])
def test_macros_fire_at_their_standard_times(macro: str, first: str, second: str) -> None:
    assert fires(macro, 2) == [ts(first + "+00:00"), ts(second + "+00:00")]


def test_leap_day_schedule_finds_the_next_february_29() -> None:
    assert fires("0 0 29 2 *", 2) == [ts("2028-02-29T00:00:00+00:00"), ts("2032-02-29T00:00:00+00:00")]
    # 2100 is not a leap year: seven years from 2097 to the next Feb 29 is within the search bound.
    assert parse_schedule("0 0 29 2 *").next_fire(ts("2097-03-01T00:00:00+00:00")) == ts(
        "2104-02-29T00:00:00+00:00")


def test_cron_and_timezone_are_stored_stripped() -> None:
    schedule = parse_schedule("  */5\t* * * *\n", " Europe/Berlin ")
    assert schedule == Schedule("*/5\t* * * *", "Europe/Berlin")
    assert schedule.next_fire(T0) == T0


def test_timezone_defaults_to_utc() -> None:
    assert parse_schedule("0 9 * * *").timezone == "UTC"


def test_schedule_is_a_hashable_value() -> None:
    assert {parse_schedule("@daily"), parse_schedule("@daily")} == {Schedule("@daily", "UTC")}


@pytest.mark.parametrize(("cron", "expected"), [
    ("*/5 * * * *", False), ("@hourly", False), ("*/5 * * * * *", True), ("0 0 0 * * ? *", True)])
def test_has_seconds_is_true_for_six_and_seven_fields(cron: str, expected: bool) -> None:
    assert parse_schedule(cron).has_seconds is expected


# --- rejected forms -------------------------------------------------------------------------

@pytest.mark.parametrize(("cron", "expected"), [
    ("", ["empty", "5 fields", "6 fields", "7 fields"]),
    ("  \t ", ["empty"]),
    ("x" * 257, ["257 characters", "256"]),
    ("* " * 200, ["256"]),
    ("ex exercitation in sed", ["has 4 field(s)", "5 fields", "'*/5 * * * *'", "6 fields with seconds first",
                                "'*/5 * * * * *'", "7 fields", "year last", "'0 30 9 * * ? *'", "@daily"]),
    ("* * * * * * * *", ["has 8 field(s)"]),
    ("foo bar baz qux quux", ["minute field 'foo'", "unknown value 'FOO'"]),
    ("61 * * * *", ["minute field '61'", "out of range", "0-59"]),
    ("1-70 * * * *", ["minute field '1-70'", "'70' out of range"]),
    ("* 24 * * *", ["hour field '24'", "0-23"]),
    ("0 0 32 * *", ["day-of-month field '32'", "1-31"]),
    ("0 0 0 * *", ["day-of-month field '0'", "1-31"]),
    ("0 0 * 13 *", ["month field '13'", "1-12", "JAN-DEC"]),
    ("0 0 * * 8", ["day-of-week field '8'", "0-7", "SUN-SAT"]),
    ("60 * * * * *", ["second field '60'", "0-59"]),
    ("0 0 0 * * ? 1969", ["year field '1969'", "1970-2099"]),
    ("*/0 * * * *", ["minute field '*/0'", "step", "1 or more"]),
    ("5-5 * * * *", ["minute field '5-5'", "same value", "'5'"]),
    ("0 0 * * MON-MON", ["day-of-week field", "same value"]),
    ("0 0 * * JAN", ["day-of-week field 'JAN'", "unknown value 'JAN'", "SUN-SAT"]),
    ("0 0 * MON *", ["month field 'MON'", "unknown value 'MON'"]),
    ("0 0 * * L", ["day-of-week field 'L'", "alone", "SAT or 6", "5L / FRIL"]),
    ("0 0 * * FRI#6", ["day-of-week field 'FRI#6'", "1 to 5"]),
    ("0 0 32W * *", ["day-of-month field '32W'", "1 to 31"]),
    ("0 0 L-31 * *", ["day-of-month field 'L-31'", "0 to 30"]),
    ("0 0 * * 5W", ["day-of-week field '5W'", "invalid", "FRI#2"]),
    ("0 0 0 1 1 ? 2030-2027", ["year field '2030-2027'", "runs backwards", "2027-2030"]),
    ("H * * * *", ["minute field 'H'", "not supported"]),
    ("R * * * *", ["minute field 'R'", "not supported"]),
    ("1,,2 * * * *", ["minute field '1,,2'", "invalid"]),
    ("-1 * * * *", ["minute field '-1'", "invalid"]),
    ("*-5 * * * *", ["minute field '*-5'", "invalid"]),
    ("1/ * * * *", ["minute field '1/'", "invalid"]),
    ("? * * * *", ["minute field '?'", "only allowed in day-of-month or day-of-week"]),
    ("@reboot", ["macro '@reboot'", "@yearly", "@hourly"]),
    ("@every 5m", ["macro '@every 5m'", "not supported"]),
    ("* * * * *\u00a0*", ["unsupported character", "\\xa0"]),
    ("\u0663 * * * *", ["unsupported character"]),
    ("0 0 30 2 *", ["'0 0 30 2 *'", "[30] can never occur in month(s) [2]"]),
    ("0 0 0 31 4,6,9,11 ? *", ["[31] can never occur"]),
    ("0 0 0 29 2 ? 2027", ["[29] can never occur in month(s) [2]"]),
    ("0 0 0 1 1 ? 2020", ["never fires within the next 10 years", "year in the past"]),
    ("* * * * * * 2099", ["never fires within the next 10 years"]),
])
def test_invalid_cron_is_rejected_with_a_message_naming_the_problem(cron: str, expected: list[str]) -> None:
    with pytest.raises(CronError) as err:
        parse_schedule(cron)
    for fragment in expected:
        assert fragment in str(err.value)


@pytest.mark.parametrize("cron", [5, None, ["*", "*", "*", "*", "*"], 1.5, b"* * * * *", {"cron": "@daily"}])
def test_non_string_cron_is_rejected(cron: object) -> None:
    with pytest.raises(CronError, match=f"must be a string.*not {type(cron).__name__}"):
        parse_schedule(cron)


def test_cron_error_is_a_value_error() -> None:
    assert issubclass(CronError, ValueError)


def test_a_schedule_that_starts_within_the_search_bound_is_accepted() -> None:
    assert fires("0 0 0 1 1 ? 2035", 2) == [ts("2035-01-01T00:00:00+00:00")]


# --- time zones -----------------------------------------------------------------------------

def test_cron_is_read_in_the_given_timezone() -> None:
    assert fires("0 9 * * *", 1, tz="Europe/Berlin") == [ts("2026-03-01T08:00:00+00:00")]
    assert fires("0 9 * * *", 1, tz="America/New_York") == [ts("2026-03-01T14:00:00+00:00")]
    assert fires("0 0 9 * * ? *", 1, tz="Asia/Kolkata") == [ts("2026-03-01T03:30:00+00:00")]


@pytest.mark.parametrize("tz", ["", "   ", None, 3, ["UTC"]])
def test_missing_or_non_string_timezone_is_rejected(tz: object) -> None:
    with pytest.raises(CronError, match="timezone must be an IANA time zone name") as err:
        parse_schedule("@daily", tz)
    assert "e.g. UTC, Europe/Berlin, America/New_York" in str(err.value)


@pytest.mark.parametrize("tz", ["Mars/Olympus", "../etc/passwd", "/etc/localtime", "localtime", "America", "utc",
                                "+01:00"])
def test_unknown_timezone_is_rejected_with_examples(tz: str) -> None:
    with pytest.raises(CronError) as err:
        parse_schedule("@daily", tz)
    assert f"timezone {tz!r} is not a known IANA time zone name" in str(err.value)
    assert "UTC, Europe/Berlin, America/New_York" in str(err.value)


# --- daylight saving time (America/New_York: spring 2026-03-08, fall 2026-11-01) --------------

NY = "America/New_York"


def test_spring_forward_time_in_the_gap_fires_once_right_after_the_gap() -> None:
    schedule = parse_schedule("30 2 * * *", NY)
    assert schedule.fires_between(ts("2026-03-07T00:00:00-05:00"), ts("2026-03-10T00:00:00-04:00")) == [
        ts("2026-03-07T02:30:00-05:00"), ts("2026-03-08T03:00:00-04:00"), ts("2026-03-09T02:30:00-04:00")]


def test_spring_forward_shifted_fire_does_not_duplicate_a_real_fire() -> None:
    schedule = parse_schedule("0 2,3 * * *", NY)
    assert schedule.fires_between(ts("2026-03-08T00:00:00-05:00"), ts("2026-03-09T00:00:00-04:00")) == [
        ts("2026-03-08T03:00:00-04:00")]


def test_spring_forward_hourly_schedule_skips_the_missing_hour() -> None:
    schedule = parse_schedule("30 * * * *", NY)
    assert schedule.fires_between(ts("2026-03-08T01:00:00-05:00"), ts("2026-03-08T05:00:00-04:00")) == [
        ts("2026-03-08T01:30:00-05:00"), ts("2026-03-08T03:30:00-04:00"), ts("2026-03-08T04:30:00-04:00")]


def test_fall_back_repeated_time_fires_once_at_its_first_occurrence() -> None:
    schedule = parse_schedule("30 1 * * *", NY)
    assert schedule.fires_between(ts("2026-10-31T00:00:00-04:00"), ts("2026-11-03T00:00:00-05:00")) == [
        ts("2026-10-31T01:30:00-04:00"), ts("2026-11-01T01:30:00-04:00"), ts("2026-11-02T01:30:00-05:00")]
    # Asking from inside the repeated hour does not resurrect the second 01:30.
    assert schedule.next_fire(ts("2026-11-01T01:00:00-05:00")) == ts("2026-11-02T01:30:00-05:00")


def test_fall_back_half_hourly_schedule_fires_in_both_passes_of_the_repeated_hour() -> None:
    schedule = parse_schedule("*/30 * * * *", NY)
    start = ts("2026-11-01T00:00:00-04:00")
    assert schedule.fires_between(start, ts("2026-11-01T03:00:00-05:00")) == [start + i * 1800 for i in range(8)]


def test_fall_back_every_five_seconds_keeps_its_rhythm_through_the_repeated_hour() -> None:
    schedule = parse_schedule("*/5 * * * * *", NY)
    start = ts("2026-11-01T01:00:00-04:00")
    assert schedule.fires_between(start, ts("2026-11-01T02:00:00-05:00")) == list(range(start, start + 7200, 5))


@pytest.mark.parametrize("cron", ["30 2 * * *", "30 1 * * *", "0 2,3 * * *", "15 1,2 * * *", "*/30 * * * *",
                                  "*/20 * 1-3 * * *"])
@pytest.mark.parametrize("day", ["2026-03-08", "2026-11-01"])
def test_fire_times_do_not_depend_on_window_boundaries_across_dst(cron: str, day: str) -> None:
    schedule = parse_schedule(cron, NY)
    start = ts(f"{day}T00:00:00+00:00") - DAY
    whole = schedule.fires_between(start, start + 3 * DAY)
    pieces = [t for s in range(start, start + 3 * DAY, 1800) for t in schedule.fires_between(s, s + 1800)]
    assert pieces == whole
    assert all(a < b for a, b in zip(whole, whole[1:]))
    assert all(schedule.next_fire(t) == t and schedule.next_fire(t - 1) == t for t in whole)


# --- fires_between, next_fires, next_fire ---------------------------------------------------

def test_fires_between_includes_start_and_excludes_end() -> None:
    schedule = parse_schedule("*/5 * * * * *")
    assert schedule.fires_between(T0, T0 + 15) == [T0, T0 + 5, T0 + 10]
    assert schedule.fires_between(T0 + 1, T0 + 16) == [T0 + 5, T0 + 10, T0 + 15]
    assert schedule.fires_between(T0 + 1, T0 + 5) == []


def test_fires_between_stops_at_limit() -> None:
    schedule = parse_schedule("*/5 * * * * *")
    assert schedule.fires_between(T0, T0 + 3600, limit=3) == [T0, T0 + 5, T0 + 10]
    assert schedule.fires_between(T0, T0 + 3600, limit=0) == []
    assert len(schedule.fires_between(T0, T0 + 3600, limit=None)) == 720


def test_fires_between_an_empty_or_reversed_window_is_empty() -> None:
    schedule = parse_schedule("* * * * * *")
    assert schedule.fires_between(T0, T0) == []
    assert schedule.fires_between(T0 + 10, T0) == []


def test_fires_between_after_the_last_year_is_empty() -> None:
    schedule = parse_schedule("0 0 0 1 1 ? 2027")
    assert schedule.fires_between(ts("2027-01-02T00:00:00+00:00"), ts("2040-01-01T00:00:00+00:00")) == []


def test_every_second_over_two_minutes_is_exact_and_fast() -> None:
    schedule = parse_schedule("* * * * * *")
    assert schedule.fires_between(T0, T0 + 120) == list(range(T0, T0 + 120))
    began = time.perf_counter()
    for minute in range(50):
        schedule.fires_between(T0 + 60 * minute, T0 + 60 * minute + 120)
    assert time.perf_counter() - began < 2.0  # measured ~3 ms per call


def test_next_fires_returns_count_fires_from_after_inclusive() -> None:
    schedule = parse_schedule("@daily")
    assert schedule.next_fires(T0, 3) == [T0, T0 + DAY, T0 + 2 * DAY]
    assert schedule.next_fires(T0 + 1, 1) == [T0 + DAY]
    assert schedule.next_fires(T0, 0) == []


def test_next_fires_returns_fewer_when_the_schedule_ends() -> None:
    schedule = parse_schedule("0 0 0 1 1 ? 2027,2028")
    assert schedule.next_fires(T0, 5) == [ts("2027-01-01T00:00:00+00:00"), ts("2028-01-01T00:00:00+00:00")]


def test_next_fire_is_none_after_the_last_fire_or_beyond_the_calendar() -> None:
    assert parse_schedule("0 0 0 1 1 ? 2027").next_fire(ts("2027-01-01T00:00:01+00:00")) is None
    assert parse_schedule("@daily").next_fire(ts("9999-12-31T12:00:00+00:00")) is None


def test_next_fire_is_inclusive() -> None:
    schedule = parse_schedule("0 9 * * *")
    assert schedule.next_fire(T0 + 9 * 3600) == T0 + 9 * 3600
    assert schedule.next_fire(T0 + 9 * 3600 + 1) == T0 + DAY + 9 * 3600


# --- min_interval and describe --------------------------------------------------------------

@pytest.mark.parametrize(("cron", "interval"), [
    ("*/5 * * * * *", 5),
    ("* * * * * *", 1),
    ("0,10 * * * *", 600),
    ("0 9 * * MON-FRI", DAY),
    ("@weekly", 7 * DAY),
    ("0 0 29 2 *", 1461 * DAY),
])
def test_min_interval_is_the_smallest_gap_between_fires(cron: str, interval: int) -> None:
    assert parse_schedule(cron).min_interval(T0) == interval


def test_min_interval_of_a_schedule_firing_at_most_once_is_no_repeat() -> None:
    assert parse_schedule("0 0 0 1 1 ? 2027").min_interval(T0) == NO_REPEAT


@pytest.mark.parametrize(("cron", "description"), [
    ("*/5 * * * * *", "Every 5 seconds"),
    ("0 */2 * * * *", "Every 2 minutes"),
    ("*/5 * * * *", "Every 5 minutes"),
    ("0 12 * * * *", "At 12 minutes past the hour"),
    ("0 30 9 * * MON-FRI", "At 09:30, Monday through Friday"),
    ("0 0 0 1 1 ? 2027", "At 00:00, on day 1 of the month, only in January, only in 2027"),
    ("@daily", "At 00:00"),
    ("@hourly", "Every hour"),
])
def test_describe_gives_english(cron: str, description: str) -> None:
    assert parse_schedule(cron).describe() == description


def test_describe_never_raises_and_falls_back_to_the_raw_cron() -> None:
    assert Schedule("not a cron", "UTC").describe() == "not a cron"
    assert Schedule("", "UTC").describe() == ""
