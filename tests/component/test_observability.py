"""Metrics and logs as an operator sees them: the EMF lines CloudWatch would read, the alarms and
dashboard that read them, GET /metrics on the local sink, and the JSON line per fire outcome.

The EMF lines are the worker's and the tick's own stdout, parsed as CloudWatch parses them; the
template is the one `make package` merges in (xtimer_deploy.template.merge_template).
"""
from __future__ import annotations

import io
import json
import logging
import socket
import threading
from datetime import datetime, timezone
from typing import Any, Iterator

import pytest
from chalice.test import Client
from prometheus_client.parser import text_string_to_metric_families

import app as chalice_app
from chalicelib.observability import catalog, logs
from chalicelib.observability.meter import Meter
from chalicelib.wiring import Services
from tests.support.fake_clock import FakeClock, at
from tests.support.pipeline import deliver, make_timer
from tests.support.receiver import Receiver, Response
from xtimer_deploy import monitoring, terraform_monitoring
from xtimer_deploy.stage import load_stage
from xtimer_deploy.template import merge_template
from xtimer_deploy.terraform import xtimer_resources
from xtimer_local.stack import scheduled_event

Stream = tuple[str, tuple[tuple[str, str], ...]]


def emf_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith('{"_aws"')]


def streams(lines: list[dict[str, Any]]) -> dict[Stream, list[float]]:
    """(metric, dimensions) -> values, as CloudWatch files an EMF line's values."""
    found: dict[Stream, list[float]] = {}
    for line in lines:
        for directive in line["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == catalog.NAMESPACE
            assert directive["Dimensions"] == [list(catalog.DIMENSIONS)]
            dims = tuple(sorted((name, line[name]) for name in directive["Dimensions"][0]))
            for definition in directive["Metrics"]:
                metric = catalog.METRICS[definition["Name"]]  # KeyError: emitted, but not in the catalog
                assert definition["Unit"] == metric.unit, metric.name
                values = line[metric.name]
                found.setdefault((metric.name, dims), []).extend(values if isinstance(values, list) else [values])
    return found


def every_kind_of_fire(service: Services, receiver: Receiver, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """Delivered, retried, failed for good and dead-lettered, dropped (disabled), a duplicate
    message (claim conflict), missed fires after the scheduler was down, and a fire skipped by
    overlapPolicy (it came while the previous one waited for a retry)."""
    monkeypatch.setenv("XTIMER_MAX_ATTEMPTS", "2")
    receiver.respond("/fails", Response(500))
    good = make_timer(service, receiver, "0 * * * * *", name="good", path="/ok")
    make_timer(service, receiver, "0 1 12 * * *", name="bad", path="/fails")
    dropped = make_timer(service, receiver, "*/5 * * * * *", name="dropped", path="/never")
    service.timers.disable("shop", dropped)
    deliver(service)
    clock.set(at("2026-03-01T12:12:30"))  # the tick was down for ten minutes: missed fires
    chalice_app.tick(scheduled_event(clock()), None)
    deliver(service)
    from chalicelib.fires.fire import Fire
    again = Fire(timer_id=good, app="shop", fire_ms=int(at("2026-03-01T12:13:00")) * 1000,
                 generation=int(service.timers.get("shop", good).generation))
    service.queue.send([again])  # a second message for a fire already made
    deliver(service)
    from chalicelib.fires.tasks import NOT_RUN
    from chalicelib.storage.models import TaskModel, TimerModel
    skipper = make_timer(service, receiver, "0 0 0 1 1 ? 2030", name="skipper", path="/never")
    TimerModel(skipper).update(actions=[TimerModel.overlap_policy.set("skip")])
    fire_ms = int(at("2026-03-01T12:14:00")) * 1000
    TaskModel(skipper, fire_ms - 60_000, app="shop", status=NOT_RUN, attempts=1,  # waiting for its retry
              expires_at=datetime.fromtimestamp(fire_ms // 1000 + 86400, timezone.utc)).save()
    service.queue.send([Fire(timer_id=skipper, app="shop", fire_ms=fire_ms,
                             generation=int(service.timers.get("shop", skipper).generation))])
    deliver(service)
    assert receiver.received("/ok") and len(receiver.received("/fails")) == 2 and not receiver.received("/never")
    deferred_and_short_circuited(service, receiver, clock, monkeypatch, good)


def deferred_and_short_circuited(service: Services, receiver: Receiver, clock: FakeClock,
                                 monkeypatch: pytest.MonkeyPatch, good: int) -> None:
    """Fair delivery (chalicelib.delivery.fairness): of two fires of one bucket over a cap of one
    callback in flight, one is handed back (deferred) and made later; a fire to a host whose
    circuit opened after one connection failure is retried, and its retry fails at once."""
    from chalicelib.storage.models import TaskModel
    from chalicelib.timers.schedule import parse_schedule
    from chalicelib.timers.spec import NotifyParams, TimerSpec

    service.timers.disable("shop", good)
    for name, value in {"XTIMER_MAX_INFLIGHT_PER_APP": "1", "XTIMER_LANE_WAIT_MS": "0",
                        "XTIMER_BREAKER_FAILURES": "1"}.items():
        monkeypatch.setenv(name, value)
    lane = [make_timer(service, receiver, "0 20 12 * * *", name=f"lane{n}", path="/lane") for n in range(2)]

    def once_the_other_is_deferred(request: Any) -> Response:
        for _ in range(200):  # the call in flight answers once the other fire's record says it was deferred
            if any((task.error or "").startswith("deferred") for t in lane for task in TaskModel.query(t)):
                break
            threading.Event().wait(0.05)
        return Response(200)

    receiver.respond("/lane", once_the_other_is_deferred)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # a port nobody listens on: connection refused
    down = service.timers.create(TimerSpec(app="ops", name="down", schedule=parse_schedule("30 20 12 * * *", "UTC"),
                                           notify=NotifyParams(url=f"http://127.0.0.1:{closed.getsockname()[1]}/x",
                                                               method="GET", header={}, body=None)))
    service.timers.enable("ops", down.id)
    clock.set(at("2026-03-01T12:19:00"))
    chalice_app.tick(scheduled_event(clock()), None)
    deliver(service)
    closed.close()
    assert len(receiver.received("/lane")) == 2


@pytest.fixture
def emf(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XTIMER_METRICS", "emf")


@pytest.fixture
def emitted(emf: None, service: Services, receiver: Receiver, clock: FakeClock, monkeypatch: pytest.MonkeyPatch,
            capsys: pytest.CaptureFixture[str]) -> dict[Stream, list[float]]:
    every_kind_of_fire(service, receiver, clock, monkeypatch)
    return streams(emf_lines(capsys.readouterr().out))


def test_every_metric_of_the_catalog_is_emitted_with_its_unit_stage_and_function(
        emitted: dict[Stream, list[float]]) -> None:
    expected = {(m.name, (("Function", m.function.value), ("Stage", "dev"))) for m in catalog.METRICS.values()}
    assert set(emitted) == expected
    values = {name: v for (name, _), v in emitted.items()}
    assert sum(values["FiresDelivered"]) >= 2
    assert sum(values["FiresRetried"]) == 2 and sum(values["FiresFailed"]) == 2  # /fails, and the host that was down
    assert sum(values["FiresDeadLettered"]) == 2
    assert sum(values["FiresDeferred"]) == 1 and sum(values["CallbacksShortCircuited"]) == 1
    assert sum(values["FiresDropped"]) >= 1 and sum(values["ClaimConflicts"]) == 1 and sum(values["FiresMissed"]) >= 1
    assert len(values["CallbackDuration"]) == sum(values["FiresDelivered"]) + 4  # every attempt, failed ones too
    lateness = values["CallbackLateness"]  # first attempts: on time, and the fires caught up after the downtime
    assert min(lateness) == 0 and 60_000 <= max(lateness) <= 300_000


def test_the_alarms_and_the_dashboard_read_only_metrics_the_code_emits(emitted: dict[Stream, list[float]]) -> None:
    referenced = monitoring.referenced_metrics(merge_template(load_stage("dev")))
    assert referenced, "the template names no xtimer metric"
    assert referenced <= set(emitted), f"named by the template, never emitted: {sorted(referenced - set(emitted))}"
    alarmed = {name for name, _ in referenced}
    assert {"CallbackLateness", "TickDuration"} <= alarmed


def test_the_terraform_alarms_and_dashboard_read_only_metrics_the_code_emits(
        emitted: dict[Stream, list[float]]) -> None:
    """`make package-terraform`'s alarms and dashboard (xtimer.tf.json) are generated from the same
    source as the template's, and name only emitted metrics, with the dimensions they are emitted with."""
    config = xtimer_resources(load_stage("dev"))
    referenced = terraform_monitoring.referenced_metrics(config)
    assert referenced == monitoring.referenced_metrics(merge_template(load_stage("dev")))
    assert referenced <= set(emitted), f"named by xtimer.tf.json, never emitted: {sorted(referenced - set(emitted))}"
    alarms = config["resource"]["aws_cloudwatch_metric_alarm"]
    cloudformation = {k for k, v in merge_template(load_stage("dev"))["Resources"].items()
                      if v.get("Type") == "AWS::CloudWatch::Alarm"}
    assert set(alarms) == cloudformation
    assert {a["metric_name"] for a in alarms.values() if a["namespace"] == catalog.NAMESPACE} == {
        "CallbackLateness", "TickDuration"}


def test_a_metric_renamed_in_the_terraform_alarms_alone_is_caught() -> None:
    config = xtimer_resources(load_stage("dev"))
    config["resource"]["aws_cloudwatch_metric_alarm"]["LatenessAlarm"]["metric_name"] = "CallbackLatency"
    names = {name for name, _ in terraform_monitoring.referenced_metrics(config)}
    assert "CallbackLatency" in names and "CallbackLatency" not in catalog.METRICS


def test_the_terraform_alarms_go_to_the_topic_with_an_optional_email_and_the_settings_as_variables() -> None:
    config = xtimer_resources(load_stage("prod"))
    resources = config["resource"]
    alarms = resources["aws_cloudwatch_metric_alarm"]
    assert all(a["alarm_actions"] == ["${aws_sns_topic.alarms.arn}"] for a in alarms.values())
    assert len({a["alarm_name"] for a in alarms.values()}) == len(alarms)
    assert alarms["LatenessAlarm"]["extended_statistic"] == "p99" and "statistic" not in alarms["LatenessAlarm"]
    assert alarms["LatenessAlarm"]["threshold"] == "${var.lateness_p99_threshold_ms}"
    assert alarms["FireQueueAgeAlarm"]["dimensions"] == {"QueueName": "xtimer-prod-fires"}
    assert alarms["WorkerErrorsAlarm"]["dimensions"] == {"FunctionName": "${aws_lambda_function.worker.function_name}"}
    tick = alarms["TickNotRunningAlarm"]
    assert (tick["period"] * tick["evaluation_periods"], tick["treat_missing_data"]) == (180, "breaching")
    assert resources["aws_sns_topic_subscription"]["alarm_email"]["count"] == '${var.alarm_email == "" ? 0 : 1}'
    assert set(config["variable"]) == {"alarm_email", "lateness_p99_threshold_ms", "oldest_fire_age_seconds"}
    assert resources["aws_cloudwatch_dashboard"]["dashboard"]["dashboard_name"] == "xtimer-prod"
    assert "${AWS::Region}" not in resources["aws_cloudwatch_dashboard"]["dashboard"]["dashboard_body"]


def test_a_metric_renamed_in_the_template_alone_is_caught() -> None:
    template = merge_template(load_stage("dev"))
    template["Resources"]["LatenessAlarm"]["Properties"]["MetricName"] = "CallbackLatency"
    names = {name for name, _ in monitoring.referenced_metrics(template)}
    assert "CallbackLatency" in names and "CallbackLatency" not in catalog.METRICS


def test_the_stack_has_the_alarms_the_topic_the_optional_email_and_the_dashboard() -> None:
    resources = merge_template(load_stage("prod"))["Resources"]
    alarms = {k: v["Properties"] for k, v in resources.items() if v.get("Type") == "AWS::CloudWatch::Alarm"}
    assert set(alarms) == {"DeadLetterQueueAlarm", "FireQueueAgeAlarm", "TickNotRunningAlarm", "LatenessAlarm",
                           "WorkerErrorsAlarm", "WorkerThrottlesAlarm", "TickErrorsAlarm", "TickThrottlesAlarm"}
    assert all(a["AlarmActions"] == [{"Ref": "AlarmTopic"}] for a in alarms.values())
    assert alarms["DeadLetterQueueAlarm"]["Dimensions"] == [{"Name": "QueueName", "Value": "xtimer-prod-fires-dlq"}]
    tick = alarms["TickNotRunningAlarm"]
    assert (tick["Period"] * tick["EvaluationPeriods"], tick["TreatMissingData"]) == (180, "breaching")
    assert alarms["LatenessAlarm"]["ExtendedStatistic"] == "p99"
    assert resources["AlarmEmailSubscription"]["Condition"] == "HasAlarmEmail"
    assert resources["Dashboard"]["Properties"]["DashboardName"] == "xtimer-prod"


def test_the_meter_refuses_a_metric_that_is_not_in_the_catalog() -> None:
    stray = catalog.Metric("FiresDelivred", catalog.Kind.COUNTER, catalog.Function.WORKER, "typo")
    with pytest.raises(ValueError, match="FiresDelivred"):
        Meter().count(stray)
    with pytest.raises(ValueError):
        Meter().time_ms(catalog.FIRES_DELIVERED, 3)  # a counter, not a timing


# --- GET /metrics ---------------------------------------------------------------------------

@pytest.fixture
def prometheus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XTIMER_METRICS", "prometheus")


def scrape(client: Client) -> dict[str, float]:
    response = client.http.get("/metrics")
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return {sample.name + (f"{{le={sample.labels['le']}}}" if "le" in sample.labels else ""): sample.value
            for family in text_string_to_metric_families(response.body.decode()) for sample in family.samples}


def test_get_metrics_shows_the_counters_and_the_lateness_histogram_moving_as_timers_fire(
        prometheus: None, service: Services, receiver: Receiver, clock: FakeClock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    with Client(chalice_app.app, stage_name="dev") as client:
        before = scrape(client)
        assert before["xtimer_fires_delivered_total"] == 0 and before["xtimer_callback_lateness_ms_count"] == 0
        every_kind_of_fire(service, receiver, clock, monkeypatch)
        after = scrape(client)
    assert after["xtimer_fires_delivered_total"] >= 2
    assert after["xtimer_fires_failed_total"] == 2 and after["xtimer_fires_missed_total"] >= 1
    assert after["xtimer_fires_deferred_total"] == 1 and after["xtimer_callbacks_short_circuited_total"] == 1
    assert after["xtimer_callback_lateness_ms_count"] == after["xtimer_fires_delivered_total"] + 2  # first attempts
    assert after["xtimer_callback_lateness_ms_bucket{le=+Inf}"] == after["xtimer_callback_lateness_ms_count"]
    assert after["xtimer_tick_duration_ms_count"] >= 1


def test_get_metrics_on_a_stage_that_keeps_none_says_where_they_are(service: Services) -> None:
    with Client(chalice_app.app, stage_name="dev") as client:
        response = client.http.get("/metrics")
    body = json.loads(response.body)
    assert response.status_code == 404 and body["code"] == 40401
    assert "CloudWatch" in body["message"] and "xtimer-dev" in body["message"]


# --- logs -----------------------------------------------------------------------------------

@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The service's log lines, formatted as deployed (chalicelib.observability.logs)."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    target = logging.getLogger("chalicelib")
    target.addHandler(handler)
    logs.use_json_logs(target)
    yield out
    target.removeHandler(handler)


def test_each_fire_outcome_is_one_json_line_with_its_fields_and_no_secret(
        json_log: io.StringIO, service: Services, receiver: Receiver, clock: FakeClock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.timers.schedule import parse_schedule
    from chalicelib.timers.spec import NotifyParams, TimerSpec

    monkeypatch.setenv("XTIMER_MAX_ATTEMPTS", "2")
    receiver.respond("/hook", Response(500, body="response-body-1f3a"), Response(200, body="response-body-1f3a"))
    spec = TimerSpec(app="shop", name="secretive", schedule=parse_schedule("0 1 12 * * *", "UTC"),
                     notify=NotifyParams(url=receiver.url("/hook"), method="POST",
                                         header={"Authorization": "Bearer header-secret-9c2e"},
                                         body='{"password": "body-secret-77d0"}'))
    timer_id = int(service.timers.create(spec).id)
    service.timers.enable("shop", timer_id)
    deliver(service)

    text = json_log.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]  # every line is JSON
    outcomes = [line for line in lines if line.get("event") == "fire_outcome"]
    assert [(o["outcome"], o["attempt"], o["http_status"]) for o in outcomes] == [("retry", 1, 500),
                                                                                 ("delivered", 2, 200)]
    first = outcomes[0]
    assert first["timer_id"] == timer_id and first["app"] == "shop"
    assert first["fire_time"] == "2026-03-01T12:01:00Z"
    assert first["idempotency_key"] == f"{timer_id}-{int(at('2026-03-01T12:01:00')) * 1000}"
    assert first["level"] == "WARNING" and outcomes[1]["level"] == "INFO"
    assert all(isinstance(o["duration_ms"], int) and o["lateness_ms"] >= 0 for o in outcomes)
    secret = service.signing.for_app("shop")[0]
    for needle in ("header-secret-9c2e", "body-secret-77d0", "response-body-1f3a", secret):
        assert needle not in text
