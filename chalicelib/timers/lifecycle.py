"""A timer's end: when the tick has handed over its last fire, the timer becomes completed (a
status of its own: never fired again, off the due index, still readable with its history), or,
with deleteAfterCompletion, is deleted once that last fire has been made."""
from __future__ import annotations

import logging
import uuid

from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.storage.models import TimerModel, TimerNameModel
from chalicelib.timers.status import STATUS_COMPLETED, STATUS_ENABLED

log = logging.getLogger(__name__)


def complete(timer_id: int, app: str, cursor: int, generation: int, fire_rate: int, last_fire: int | None,
             now_ms: int) -> bool:
    """Mark an enabled timer completed if its cursor and generation are still these (False if
    someone moved it first), and give its fire rate back to the app's quota. The generation stays:
    the fires already queued are still made."""
    actions = [TimerModel.status.set(STATUS_COMPLETED), TimerModel.next_fire.remove(), TimerModel.due_shard.remove(),
               TimerModel.fire_rate.remove(), TimerModel.updated_at.set(now_ms), TimerModel.version.add(1)]
    if last_fire is not None:
        actions.append(TimerModel.last_fire.set(last_fire))
    try:
        with TransactWrite(connection=TimerModel._get_connection().connection,
                           client_request_token=uuid.uuid4().hex) as tx:
            tx.update(TimerModel(timer_id), actions=actions,
                      condition=(TimerModel.next_fire == cursor) & (TimerModel.generation == generation)
                      & (TimerModel.status == STATUS_ENABLED))
            tx.update(TimerNameModel(TimerNameModel.key_for_app(app)),
                      actions=[TimerNameModel.fire_rate.add(-fire_rate)])
    except TransactWriteError as exc:
        if any(getattr(r, "code", None) == "ConditionalCheckFailed" for r in (exc.cancellation_reasons or [])):
            return False
        raise
    return True


def after_last_fire(timer: TimerModel, fire_ms: int) -> None:
    """Called when a fire is finished with: the last fire of a completed timer that asked for
    deleteAfterCompletion deletes it (its task records stay until they expire)."""
    if (int(timer.status) != STATUS_COMPLETED or not timer.delete_after_completion or timer.last_fire is None
            or fire_ms < int(timer.last_fire) * 1000):
        return
    try:
        delete_completed(int(timer.id), timer.app)
    except Exception:  # noqa: BLE001 - the timer stays, completed; deleting it is the user's to retry
        log.exception("completed timer %s could not be deleted after its last fire", timer.id)


def delete_completed(timer_id: int, app: str) -> None:
    """Delete a completed timer with its name and its place in the app's count."""
    timer = TimerModel.get(timer_id, consistent_read=True)
    with TransactWrite(connection=TimerModel._get_connection().connection,
                       client_request_token=uuid.uuid4().hex) as tx:
        tx.delete(timer, condition=TimerModel.status == STATUS_COMPLETED)
        tx.delete(TimerNameModel(TimerNameModel.key_for(app, timer.name)), condition=TimerNameModel.timer_id == timer_id)
        tx.update(TimerNameModel(TimerNameModel.key_for_app(app)), actions=[TimerNameModel.timers.add(-1)])
