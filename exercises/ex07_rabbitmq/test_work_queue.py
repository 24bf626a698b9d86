"""Visible checks for exercise 7. Run: pytest exercises/ex07_rabbitmq

They need a RabbitMQ broker (README.md says how to start one); without one they are skipped with
that message. Every check works on a queue of its own, deleted afterwards.
"""

from grader.checking.mistakes import Words
from grader.checking.scenarios.ex07_rabbitmq import (PUBLISH_ONLY, RUN_WORK_QUEUE, WORKER_KILLED_MID_MESSAGE,
                                                   WORKER_UNTIL_STOP)

HOLD = 5.0  # seconds a worker would spend on one message in the kill checks (it is killed long before)
WINDOW = 0.5  # how long the check watches a worker that works on its first message
BEHIND = "behind-STOP"  # the body of the message the check publishes behind STOP
# What a failure says to look at is a name of the words in grader/checking/catalogue/<language>.toml.
LOOK_AT_STOP = "ex07.stop-per-worker"


def _publish(kit, items):
    url, name = kit.broker_url(), kit.queue_name("publish")
    return kit.run(PUBLISH_ONLY, url=url, queue_name=name, items=items).value


def _worker_killed(kit, count=6):
    url, name = kit.broker_url(), kit.queue_name("kill")
    items = kit.texts(count, salt="kill")
    seen = kit.run(WORKER_KILLED_MID_MESSAGE, url=url, queue_name=name, items=items, hold=HOLD,
                   window=WINDOW).value
    if not seen.took:
        kit.fail("ex07.took-nothing", count=count, ready=seen.lowest)
    return seen, count


def _run(kit, batches, n_workers, *, producer_delay=0.0, worker_delay=0.0):
    url, name = kit.broker_url(), kit.queue_name("run")
    total = sum(len(b) for b in batches)
    longest = max((len(b) for b in batches), default=0)
    outcome = kit.run(RUN_WORK_QUEUE, url=url, queue_name=name, batches=batches, n_workers=n_workers,
                      producer_delay=producer_delay, worker_delay=worker_delay)
    seen = outcome.value
    expected = [item for batch in batches for item in batch]
    if isinstance(seen.value, list):
        kit.expect_sentinels_after_producers(seen, what="run()", sentinel=Words("a-stop"),
                                             look_at="join-publishers-then-stops")
        left_items = [body for body in seen.left if body in set(expected)]
        if left_items:
            kit.fail("ex07.items-left", count=len(left_items), total=total, handled=len(seen.value),
                     queued=", ".join(map(repr, left_items[:3])), mistake="ex07.stop-before-publishers-ended")
        kit.expect_every_result_taken(seen, what="run()")
        kit.expect_items(seen.value, expected, what="run()", ordered=False,
                         look_at="ex07.one-result-per-item")
        kit.expect_clean_shutdown(seen, what="run()")
        if seen.left:
            kit.fail("ex07.messages-left", count=len(seen.left),
                     bodies=", ".join(repr(body) for body in seen.left[:3]))
    else:
        kit.expect_items(seen.value, expected, what="run()", ordered=False, look_at=LOOK_AT_STOP)
    if producer_delay:
        kit.expect_took_at_least(seen, longest * producer_delay, what="run()",
                                 why=Words("longest-batch", longest=longest, delay=producer_delay))
    return outcome


def test_publish_makes_a_durable_queue_of_persistent_messages(kit):
    items = kit.texts(6)
    seen = _publish(kit, items)
    if not seen.exists:
        kit.fail("ex07.no-queue")
    if seen.value != len(items):
        kit.fail("ex07.publish-count", count=len(items), value=repr(seen.value))
    if not seen.durable:
        kit.fail("ex07.transient-queue", mistake="ex07.queue-not-durable")
    bodies = seen.bodies
    # The first messages there and the last ones missing: they were still on their way when the
    # publisher's process ended without closing its connection.
    cut_short = isinstance(bodies, list) and len(bodies) < len(items) and bodies == items[:len(bodies)]
    kit.expect_items(bodies, items, what=Words("ex07.queue-after-publish"), ordered=True,
                     look_at="ex07.publish-in-order",
                     mistake="ex07.publisher-not-closed" if cut_short else None)
    transient = sum(1 for mode in seen.modes if mode != 2)
    if transient:
        kit.fail("ex07.not-persistent", transient=transient, count=len(items),
                 modes=sorted(set(seen.modes), key=str), mistake="ex07.message-not-persistent")


def test_worker_hands_on_every_message_until_stop(kit):
    url, name = kit.broker_url(), kit.queue_name("worker")
    items = kit.texts(7)
    seen = kit.run(WORKER_UNTIL_STOP, url=url, queue_name=name, items=items, behind=BEHIND).value
    if seen.bad_stop is not None:
        kit.fail("ex07.bad-stop", stop=seen.bad_stop, mistake="ex07.stop-never-matches")
    kit.expect_items(seen.got, items, what=Words("ex07.worker-results"), ordered=True,
                     look_at="ex07.put-then-ack")
    if seen.extra:
        kit.fail("ex07.forwarded-stop", extra=repr(seen.extra[0]), mistake="ex07.stop-forwarded")
    if seen.answer != ("returned", len(items)):
        got = (Words("ex07.returned", value=repr(seen.answer[1])) if seen.answer[0] == "returned"
               else Words("ex07.no-answer", code=seen.exitcode))
        kit.fail("ex07.worker-count", count=len(items), got=got)
    if seen.left != [BEHIND]:
        stops = seen.left.count(seen.stop)
        kit.fail("ex07.left-after-stop", behind=repr([BEHIND]), left=repr(seen.left[:4]),
                 stops=Words("ex07.stops-left", count=stops) if stops else "",
                 mistake="ex07.stop-not-acked" if stops else None)


def test_worker_takes_one_message_at_a_time(kit):
    seen, count = _worker_killed(kit)
    held = count - seen.lowest
    if held > 1:
        kit.fail("ex07.held-many", held=held, count=count, window=WINDOW,
                 mistake="ex07.auto-ack" if _lost(seen, count) > 2 else "ex07.no-prefetch")


def test_killed_worker_loses_nothing(kit):
    seen, count = _worker_killed(kit)
    back = count - _lost(seen, count)
    if back != count:
        kit.fail("ex07.lost-messages", lost=count - back, count=count, back=back,
                 # auto_ack loses every message the broker pushed, and it pushes them all at once
                 # whatever the prefetch; an ack before the work loses the one or two the worker took
                 mistake="ex07.auto-ack" if count - back > 2 else "ex07.ack-before-work")


def _lost(seen, count) -> int:
    """How many messages the broker forgot when the worker was killed (it redelivers the others)."""
    return count - (seen.after_kill if seen.after_kill is not None else 0)


def test_every_item_handled_exactly_once(kit):
    _run(kit, kit.text_batches([5, 5, 5]), 2)


def test_one_stop_per_worker(kit):
    _run(kit, kit.text_batches([8]), 3)


def test_stops_wait_for_every_publisher(kit):
    _run(kit, kit.text_batches([1, 8, 2]), 2, producer_delay=0.03)


def test_one_connection_per_process(kit):
    batches = kit.text_batches([3, 3])
    seen = _run(kit, batches, 2, worker_delay=0.01).value
    if seen.threads:
        kit.fail("ex07.threads", threads=", ".join(seen.threads), mistake="any.threads-not-processes")
    if len(seen.processes) < len(batches) + 2:
        kit.fail("ex07.process-count", publishers=len(batches), workers=2, total=len(batches) + 2,
                 count=len(seen.processes), names=", ".join(seen.processes))
