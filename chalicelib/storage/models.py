"""The DynamoDB schema, described once as PynamoDB models.

Three tables:
- timers: one item per timer (hash key `id`). Two sparse, narrow indexes: `by_app` lists an app's
  timers newest first; `by_due` holds only enabled timers, keyed by a shard and the first fire
  not yet enqueued (`next_fire`), so the tick finds what is due without scanning.
- timer names: one item per (app, name), written in the same transaction as the timer; this
  is what makes names unique per app.
- tasks: one item per execution (hash `timer_id`, range `fire_ms`), the record of every call,
  expired by a TTL.

Table names and the endpoint are resolved at run time by `bind()`, never at import time:
PynamoDB would otherwise fix them when the class is defined.
"""
from __future__ import annotations

import json
import threading
from typing import Any

from pynamodb.attributes import (
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
)
from pynamodb.indexes import GlobalSecondaryIndex, IncludeProjection
from pynamodb.models import Model

from chalicelib import config
from chalicelib.storage.aws import MAX_POOL_CONNECTIONS

DUE_SHARDS = 8
"""The due index is spread over this many partitions so one busy minute is not one hot key.
Changing it strands timers on shards the tick no longer reads: treat it as part of the schema."""


_connect_lock = threading.Lock()
_clients: dict[tuple[Any, Any], Any] = {}  # (host, region) -> the botocore client every model shares


class SharedClientModel(Model):
    """A model whose botocore client is built once, by one thread, and then shared by all.

    PynamoDB builds a model's client on its first call, without a lock. When the worker's 256
    threads made their first calls together, each built a client of its own (about 0.1 s of CPU
    apiece, under one GIL): on the local stack 1,200 fires due in one minute waited 53 s for
    that before the first callback went out, and a fresh Lambda container paid the same in
    proportion. The models also share one client between them (they differ only in table):
    a worker's first herd otherwise built the apps table's client in the middle of it (a
    quarter of the worker's samples in a profile of a 300-fire second).
    """

    @classmethod
    def _get_connection(cls) -> Any:
        connection = super()._get_connection()
        if cls.__dict__.get("_client_built_for") is not connection:
            with _connect_lock:
                connection = super()._get_connection()
                if cls.__dict__.get("_client_built_for") is not connection:
                    key = (cls.Meta.host, cls.Meta.region)
                    if key in _clients:
                        connection.connection._client = _clients[key]
                    else:
                        _clients[key] = connection.connection.client  # builds it; later calls find it built
                    cls._client_built_for = connection
        return connection


class NotifyAttribute(MapAttribute):
    url = UnicodeAttribute()
    method = UnicodeAttribute()
    header = MapAttribute(default=dict)
    body = UnicodeAttribute(null=True)


DELIVERY_ATTRIBUTES = ("retry_max_attempts", "retry_max_age", "retry_min_backoff", "retry_max_backoff", "retry_on",
                       "timeout_seconds", "failure_callback", "pause_after_failures", "consecutive_failures",
                       "status_reason", "paused_at")
"""A timer's delivery policy and failure state (issue 16): shown in lists, so projected into by_app."""


class TimersByApp(GlobalSecondaryIndex):
    """An app's timers, newest first (ids grow with time). Projects only what users change,
    so the scheduler's cursor updates never write to this index."""

    class Meta:
        index_name = "by_app"
        projection = IncludeProjection(
            ["name", "cron", "timezone", "status", "notify", "created_at", "updated_at", "version",
             "start_at", "end_at", "max_fires", "jitter_seconds", "delete_after_completion", "misfire_policy",
             "catch_up_seconds", "overlap_policy", *DELIVERY_ATTRIBUTES]
        )

    app = UnicodeAttribute(hash_key=True)
    id = NumberAttribute(range_key=True)


class TimersByDue(GlobalSecondaryIndex):
    """Enabled timers by the first fire not yet enqueued; sparse (disabled timers have no key)."""

    class Meta:
        index_name = "by_due"
        projection = IncludeProjection(["app", "cron", "timezone", "generation", "created_at", "anchor", "fire_rate",
                                        "start_at", "end_at", "max_fires", "jitter_seconds",
                                        "delete_after_completion", "misfire_policy", "catch_up_seconds"])

    due_shard = NumberAttribute(hash_key=True)
    next_fire = NumberAttribute(range_key=True)


class TimerModel(SharedClientModel):
    class Meta:
        table_name = "unbound-timers"
        billing_mode = "PAY_PER_REQUEST"

    id = NumberAttribute(hash_key=True)
    app = UnicodeAttribute()
    name = UnicodeAttribute()
    cron = UnicodeAttribute()
    timezone = UnicodeAttribute(default="UTC")
    notify = NotifyAttribute()
    status = NumberAttribute()
    created_at = NumberAttribute()  # epoch ms
    updated_at = NumberAttribute()  # epoch ms
    # Optimistic lock for user changes. Kept by hand rather than with VersionAttribute: the
    # scheduler advances `next_fire` every few minutes and must not make users' updates stale.
    version = NumberAttribute(default=1)
    # Bumped whenever the schedule changes meaning (enable, disable, new cron or timezone);
    # fires carry it, and the worker drops a fire whose generation is no longer current.
    generation = NumberAttribute(default=0)
    next_fire = NumberAttribute(null=True)  # epoch s; only while enabled
    due_shard = NumberAttribute(null=True)  # only while enabled
    fire_rate = NumberAttribute(null=True)  # fires per hour counted against the app's quota; only while enabled
    # Optional schedule settings (chalicelib.timers.options); absent = not set.
    start_at = NumberAttribute(null=True)  # epoch s: no fire before
    end_at = NumberAttribute(null=True)  # epoch s: no fire at or after
    max_fires = NumberAttribute(null=True)
    jitter_seconds = NumberAttribute(null=True)
    delete_after_completion = NumberAttribute(null=True)  # 1: delete the timer once its last fire is made
    misfire_policy = UnicodeAttribute(null=True)  # all (absent), once or skip
    overlap_policy = UnicodeAttribute(null=True)  # allow (absent), skip or buffer_one (chalicelib.delivery.overlap)
    catch_up_seconds = NumberAttribute(null=True)
    anchor = NumberAttribute(null=True)  # epoch s the timer was last enabled at: where a rate and maxFires count from
    last_fire = NumberAttribute(null=True)  # epoch s of the last fire of a completed timer
    # Delivery policy (chalicelib.timers.delivery_options); absent = the service's defaults.
    retry_max_attempts = NumberAttribute(null=True)
    retry_max_age = NumberAttribute(null=True)  # s after the fire time
    retry_min_backoff = NumberAttribute(null=True)
    retry_max_backoff = NumberAttribute(null=True)
    retry_on = UnicodeAttribute(null=True)  # comma-separated entries; "-" retries nothing
    timeout_seconds = NumberAttribute(null=True)
    failure_callback = NotifyAttribute(null=True)
    pause_after_failures = NumberAttribute(null=True)
    # Failure state (chalicelib.timers.failures): fires failed for good in a row, and why the
    # service disabled the timer (with pauseAfterFailures), since when (epoch ms).
    consecutive_failures = NumberAttribute(null=True)
    status_reason = UnicodeAttribute(null=True)
    paused_at = NumberAttribute(null=True)

    by_app = TimersByApp()
    by_due = TimersByDue()


class TimerNameModel(SharedClientModel):
    """Two kinds of item, both written in the same transactions as the timers:
    - a name item, key `["<app>","<name>"]`, holds (app, name) so that a second timer with the
      same name cannot be written (`timer_id`);
    - an app item, key `["<app>"]`, counts the app's timers (`timers`), so lists know their
      total without reading them all, and adds up their fire rates (`fire_rate`), for quotas;
    - a manual-runs item, key `["<app>",null]`, counts the app's triggerTimer runs in the current
      minute (`manual_minute`, `manual_runs`; chalicelib.apps.manual_runs).
    """

    class Meta:
        table_name = "unbound-timer-names"
        billing_mode = "PAY_PER_REQUEST"

    key = UnicodeAttribute(hash_key=True)
    timer_id = NumberAttribute(null=True)
    timers = NumberAttribute(null=True)
    fire_rate = NumberAttribute(null=True)  # sum of the enabled timers' fire_rate
    manual_minute = NumberAttribute(null=True)  # epoch minute the manual_runs count is for
    manual_runs = NumberAttribute(null=True)

    @staticmethod
    def key_for(app: str, name: str) -> str:
        return json.dumps([app, name], ensure_ascii=False, separators=(",", ":"))

    @staticmethod
    def key_for_app(app: str) -> str:
        return json.dumps([app], ensure_ascii=False, separators=(",", ":"))

    @staticmethod
    def key_for_manual_runs(app: str) -> str:
        """No timer name is null, so this key is no name item's."""
        return json.dumps([app, None], ensure_ascii=False, separators=(",", ":"))


class TaskModel(SharedClientModel):
    """One execution of a timer: a scheduled fire or a manual run."""

    class Meta:
        table_name = "unbound-tasks"
        billing_mode = "PAY_PER_REQUEST"

    timer_id = NumberAttribute(hash_key=True)
    fire_ms = NumberAttribute(range_key=True)  # fire time in epoch ms
    app = UnicodeAttribute()
    status = NumberAttribute()
    attempts = NumberAttribute(default=0)
    http_status = NumberAttribute(null=True)
    response_body = UnicodeAttribute(null=True)
    duration_ms = NumberAttribute(null=True)
    error = UnicodeAttribute(null=True)
    lease_until = NumberAttribute(null=True)  # epoch ms; a running claim older than this is abandoned
    claim_token = UnicodeAttribute(null=True)  # who holds the claim: lets a retried claim recognise its own write
    started_at = NumberAttribute(null=True)  # epoch ms
    finished_at = NumberAttribute(null=True)  # epoch ms
    manual = NumberAttribute(default=0)  # 1 for a run-now outside the schedule
    overlap_policy = UnicodeAttribute(null=True)  # the timer's overlapPolicy when the fire came, if not allow
    sent_at = NumberAttribute(null=True)  # epoch ms the latest attempt's request left
    failure_callback = MapAttribute(null=True)  # the failure callback's outcome: sent_at, http_status, error, duration_ms
    expires_at = TTLAttribute()


class ApiKeysByApp(GlobalSecondaryIndex):
    """An app's keys, to list and revoke them."""

    class Meta:
        index_name = "by_app"
        projection = IncludeProjection(["key_id", "created_at", "revoked_at"])

    app = UnicodeAttribute(hash_key=True)
    created_at = NumberAttribute(range_key=True)


class ApiKeyModel(SharedClientModel):
    """An app's API key, stored only as its SHA-256 (a leaked table leaks no usable key)."""

    class Meta:
        table_name = "unbound-api-keys"
        billing_mode = "PAY_PER_REQUEST"

    key_hash = UnicodeAttribute(hash_key=True)
    app = UnicodeAttribute()
    key_id = UnicodeAttribute()  # the key's first characters, to tell keys apart in lists and logs
    created_at = NumberAttribute()  # epoch ms
    revoked_at = NumberAttribute(null=True)  # epoch ms

    by_app = ApiKeysByApp()


class AppModel(SharedClientModel):
    """Per-app settings: the secret callbacks are signed with (and the one before it, during a rotation)."""

    class Meta:
        table_name = "unbound-apps"
        billing_mode = "PAY_PER_REQUEST"

    app = UnicodeAttribute(hash_key=True)
    signing_secret = UnicodeAttribute()
    previous_secret = UnicodeAttribute(null=True)
    previous_until = NumberAttribute(null=True)  # epoch s; callbacks carry both signatures until then
    next_secret = UnicodeAttribute(null=True)  # the secret the next rotation makes current; signs already
    created_at = NumberAttribute()
    rotated_at = NumberAttribute(null=True)


MODELS: tuple[type[Model], ...] = (TimerModel, TimerNameModel, TaskModel, ApiKeyModel, AppModel)


def _table_names() -> dict[type[Model], str]:
    return {
        TimerModel: config.timers_table(),
        TimerNameModel: config.timer_names_table(),
        TaskModel: config.tasks_table(),
        ApiKeyModel: config.api_keys_table(),
        AppModel: config.apps_table(),
    }


def condition_failed(exc: Exception) -> bool:
    """Whether a PynamoDB write error is a failed condition (someone else got there first)."""
    return getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException"


def table_name(model: type[Model]) -> str:
    """The table `model` lives in, in the stage configured now."""
    return _table_names()[model]


def bind() -> None:
    """Point every model at this stage's table names, region and endpoint, as configured now.

    Cheap when nothing changed; a changed endpoint or region drops the cached connection.
    """
    host = config.endpoint_url()
    region = config.region()
    for model, table_name in _table_names().items():
        meta = model.Meta
        if getattr(meta, "host", None) != host or getattr(meta, "region", None) != region:
            meta.host = host
            meta.region = region
            model._connection = None
            with _connect_lock:
                _clients.pop((host, region), None)
        meta.table_name = table_name
        meta.max_pool_connections = MAX_POOL_CONNECTIONS  # read when a connection is made


def reset_connections() -> None:
    """Forget cached connections (tests start a fresh moto per test)."""
    with _connect_lock:
        _clients.clear()
    for model in MODELS:
        model._connection = None


def headers_of(timer: "TimerModel") -> dict[str, str]:
    """The callback's headers as a plain dict (a stored map comes back as a MapAttribute)."""
    header = timer.notify.header
    return dict(header.attribute_values) if isinstance(header, MapAttribute) else dict(header or {})
