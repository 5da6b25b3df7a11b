"""xtimer: HTTP callbacks on a cron schedule. Routes and event handlers only; the logic is in chalicelib."""
from __future__ import annotations

import logging
from typing import Any

from chalice import Chalice, Rate, Response
from chalice.app import SQSEvent

from chalicelib import config
from chalicelib.api import handlers as api
from chalicelib.api import metrics as metrics_api
from chalicelib.observability import logs
from chalicelib.wiring import services

app = Chalice(app_name="xtimer")
app.log.setLevel(logging.INFO)
logging.getLogger("chalicelib").setLevel(logging.INFO)
if config.deployed():  # JSON log lines in CloudWatch; the local stack keeps its readable ones
    logs.use_json_logs()
    logs.use_json_logs(app.log)


def _invocation_id() -> str | None:
    context = getattr(app, "lambda_context", None)
    return getattr(context, "aws_request_id", None)

JSON_BODY_TYPES = ["application/json", "text/plain"]  # one kind: `chalice deploy` refuses binary and text types mixed


@app.middleware("http")
def envelope_every_reply(event: Any, get_response: Any) -> Response:
    logs.set_request_id((getattr(event, "context", None) or {}).get("requestId") or _invocation_id())
    return api.envelope_middleware(event, get_response)


@app.route("/health", methods=["GET"])
def health() -> Response:
    return api.health(app.current_request)


@app.route("/openapi.json", methods=["GET"])
def openapi() -> Response:
    return api.openapi_document(app.current_request)


@app.route("/metrics", methods=["GET"])
def metrics() -> Response:
    """The local stack's metrics in Prometheus' text format (docs/operations.md)."""
    return metrics_api.metrics(app.current_request)


@app.route("/xtimer/creatTimer", methods=["POST"], content_types=JSON_BODY_TYPES)
def creat_timer() -> Response:
    return api.create_timer(app.current_request)


@app.route("/xtimer/createTimer", methods=["POST"], content_types=JSON_BODY_TYPES)
def create_timer() -> Response:
    return api.create_timer(app.current_request)


@app.route("/xtimer/enableTimer", methods=["GET"])
def enable_timer() -> Response:
    return api.enable_timer(app.current_request)


@app.route("/xtimer/unableTimer", methods=["GET"])
def unable_timer() -> Response:
    return api.disable_timer(app.current_request)


@app.route("/xtimer/disableTimer", methods=["GET"])
def disable_timer() -> Response:
    return api.disable_timer(app.current_request)


@app.route("/xtimer/getTimer", methods=["GET"])
def get_timer() -> Response:
    return api.get_timer(app.current_request)


@app.route("/xtimer/getAppTimers", methods=["GET"])
def get_app_timers() -> Response:
    return api.get_app_timers(app.current_request)


@app.route("/xtimer/updateTimer", methods=["POST"], content_types=JSON_BODY_TYPES)
def update_timer() -> Response:
    return api.update_timer(app.current_request)


@app.route("/xtimer/deleteTimer", methods=["GET"])
def delete_timer() -> Response:
    return api.delete_timer(app.current_request)


@app.route("/xtimer/timer", methods=["DELETE"])
def delete_timer_rest() -> Response:
    return api.delete_timer(app.current_request)


@app.route("/xtimer/getTasks", methods=["GET"])
def get_tasks() -> Response:
    return api.get_tasks(app.current_request)


@app.route("/xtimer/getAppActivity", methods=["GET"])
def get_app_activity() -> Response:
    return api.get_app_activity(app.current_request)


@app.route("/xtimer/triggerTimer", methods=["GET"])
def trigger_timer() -> Response:
    return api.trigger_timer(app.current_request)


@app.route("/xtimer/previewCron", methods=["POST"], content_types=JSON_BODY_TYPES)
def preview_cron() -> Response:
    return api.preview_cron(app.current_request)


@app.route("/xtimer/getSigningSecret", methods=["GET"])
def get_signing_secret() -> Response:
    return api.get_signing_secret(app.current_request)


# --- The web console (docs/console.md): static files from chalicelib/api/console, no API key needed
# to load them; the page itself sends the key with every API call. ---
from chalicelib.api import console  # noqa: E402


@app.route("/console", methods=["GET"])
def console_page() -> Response:
    return console.page(app.current_request.context.get("path", ""))


@app.route("/console/{asset}", methods=["GET"])
def console_asset(asset: str) -> Response:
    return console.asset(asset)


@app.schedule(Rate(1, unit=Rate.MINUTES), name="tick")
def tick(event: Any) -> dict[str, Any]:
    """Enqueue the fires of the coming window (one tick at a time: reserved concurrency 1)."""
    logs.set_request_id(_invocation_id())
    return api.report(services().tick.run())


@app.on_sqs_message(
    queue=config.fire_queue(), batch_size=10, name="worker"
)
def worker(event: SQSEvent) -> dict[str, Any]:
    """Make the callbacks of a batch of fires; failed ones are reported for redelivery."""
    logs.set_request_id(_invocation_id())
    return services().worker.handle([record.to_dict() for record in event])
