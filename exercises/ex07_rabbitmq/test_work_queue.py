"""Visible checks for exercise 7. Run: pytest exercises/ex07_rabbitmq

They need a RabbitMQ broker (README.md says how to start one); without one they are skipped with
that message. Every check works on a queue of its own, deleted afterwards.
"""

HOLD = 5.0  # seconds a worker would spend on one message in the kill checks (it is killed long before)
WINDOW = 0.5  # how long the check watches a worker that works on its first message
BEHIND = "a message behind the STOP"
WAIT_BEHIND = 1.5  # seconds the check may wait for the broker to give back the message behind STOP
LOOK_AT_STOP = "one STOP per worker, published after every publisher has been joined"


def _publish(kit, items):
    url, name = kit.broker_url(), kit.queue_name("publish")
    return kit.run("publish_only", action=f"publish(url, {name!r}, items)", url=url, queue_name=name,
                   items=items).value


def _worker_killed(kit, count=6):
    url, name = kit.broker_url(), kit.queue_name("kill")
    items = kit.texts(count, salt="kill")
    seen = kit.run("worker_killed_mid_message", action=f"worker(url, {name!r}, results, delay={HOLD})",
                   url=url, queue_name=name, items=items, hold=HOLD, window=WINDOW,
                   work=WINDOW + 2.0, processes=1).value
    if not seen["took"]:
        kit.fail("worker() took no message from a queue that held some.",
                 expected=f"the worker takes the first of {count} messages",
                 got=f"{seen['lowest']} messages still ready after the wait",
                 look_at="consume from queue_name, and keep the connection busy with "
                         "channel.consume() or channel.start_consuming()")
    return seen, count


def _run(kit, batches, n_workers, *, producer_delay=0.0, worker_delay=0.0):
    url, name = kit.broker_url(), kit.queue_name("run")
    total = sum(len(b) for b in batches)
    longest = max((len(b) for b in batches), default=0)
    work = kit.pipeline_work(batches, n_workers, producer_delay, worker_delay)
    outcome = kit.run("run_work_queue", action=f"run(url, {name!r}, batches, {n_workers})", url=url,
                      queue_name=name, batches=batches, n_workers=n_workers,
                      producer_delay=producer_delay, worker_delay=worker_delay, work=work,
                      processes=len(batches) + n_workers + 1)
    seen = outcome.value
    expected = [item for batch in batches for item in batch]
    if isinstance(seen["value"], list):
        kit.expect_sentinels_after_producers(seen, what="run()", sentinel="a STOP",
                                             look_at="join every publisher first, then publish the STOPs")
        left_items = [body for body in seen["left"] if body in set(expected)]
        if left_items:
            kit.fail(f"run() returned while {len(left_items)} item(s) were still waiting in the queue.",
                     expected=f"all {total} items handled before the workers stop",
                     got=f"{len(seen['value'])} handled; still queued: {', '.join(map(repr, left_items[:3]))}",
                     look_at="a STOP published before every publisher had finished overtakes their "
                             "items: join every publisher first, then " + LOOK_AT_STOP,
                     mistake="ex07.stop-before-publishers-ended")
        kit.expect_every_result_taken(seen, what="run()")
        kit.expect_items(seen["value"], expected, what="run()", ordered=False,
                         look_at="collect one result per item, from every worker")
        kit.expect_clean_shutdown(seen, what="run()")
        if seen["left"]:
            kit.fail(f"run() left {len(seen['left'])} message(s) in the queue.",
                     expected="an empty queue: every item handled, every STOP taken",
                     got=", ".join(repr(body) for body in seen["left"][:3]),
                     look_at="publish exactly one STOP per worker: a spare STOP stops the next "
                             "worker that uses the queue before it has done anything")
    else:
        kit.expect_items(seen["value"], expected, what="run()", ordered=False, look_at=LOOK_AT_STOP)
    if producer_delay:
        kit.expect_took_at_least(seen, longest * producer_delay, what="run()",
                                 why=f"the longest batch has {longest} items, producer_delay={producer_delay}")
    return outcome


def test_publish_makes_a_durable_queue_of_persistent_messages(kit):
    items = kit.texts(6)
    seen = _publish(kit, items)
    if not seen["exists"]:
        kit.fail("publish() made no queue of that name on the broker.",
                 expected="the queue named queue_name, holding the items",
                 got="no such queue", look_at="channel.queue_declare(queue=queue_name, durable=True)")
    if seen["value"] != len(items):
        kit.fail("publish() must return how many messages it published.",
                 expected=str(len(items)), got=repr(seen["value"]))
    if not seen["durable"]:
        kit.fail("publish() declared a queue that is not durable: a broker restart deletes it, with "
                 "every message in it.", expected="queue_declare(..., durable=True)",
                 got="a transient queue", look_at="declare the queue with durable=True everywhere",
                 mistake="ex07.queue-not-durable")
    bodies = seen["bodies"]
    # The first messages there and the last ones missing: they were still on their way when the
    # publisher's process ended without closing its connection.
    cut_short = isinstance(bodies, list) and len(bodies) < len(items) and bodies == items[:len(bodies)]
    kit.expect_items(bodies, items, what="the queue after publish()", ordered=True,
                     look_at="publish each item, as a str, in the order given (body=item.encode())",
                     mistake="ex07.publisher-not-closed" if cut_short else None)
    transient = sum(1 for mode in seen["modes"] if mode != 2)
    if transient:
        kit.fail(f"{transient} of {len(items)} messages are not persistent: a broker restart loses them, "
                 "even in a durable queue.", expected="delivery_mode 2 (persistent) on every message",
                 got=f"delivery modes {sorted(set(seen['modes']), key=str)}",
                 look_at="properties=pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent)",
                 mistake="ex07.message-not-persistent")


def test_worker_hands_on_every_message_until_stop(kit):
    url, name = kit.broker_url(), kit.queue_name("worker")
    items = kit.texts(7)
    seen = kit.run("worker_until_stop", action=f"worker(url, {name!r}, results)", url=url,
                   queue_name=name, items=items, behind=BEHIND, processes=1, work=WAIT_BEHIND).value
    if "bad_stop" in seen:
        kit.fail("STOP must be a module-level str that no item equals.", expected="STOP = '<a string>'",
                 got=seen["bad_stop"], mistake="ex07.stop-never-matches")
    kit.expect_items(seen["got"], items, what="worker()'s results", ordered=True,
                     look_at="for each message, in order: results.put(body.decode()), then ack")
    if seen["extra"]:
        kit.fail("worker() forwarded the STOP message to results.", expected="STOP taken, not forwarded",
                 got=f"results also held {seen['extra'][0]!r}", look_at="check for STOP before the work",
                 mistake="ex07.stop-forwarded")
    if seen["answer"] != ("returned", len(items)):
        got = (f"returned {seen['answer'][1]!r}" if seen["answer"][0] == "returned"
               else f"no answer (exit code {seen['exitcode']})")
        kit.fail("worker() must return the number of items it handled when it takes STOP.",
                 expected=f"returned {len(items)}", got=got)
    if seen["left"] != [BEHIND]:
        stops = seen["left"].count(seen["stop"])
        kit.fail("After worker() returned, the queue should hold just the message behind STOP.",
                 expected=repr([BEHIND]), got=repr(seen["left"][:4]) + (f" ({stops} STOP)" if stops else ""),
                 look_at="ack the STOP too (or it comes back), and stop consuming right after it: the "
                         "messages behind it belong to other workers (auto_ack loses them)",
                 mistake="ex07.stop-not-acked" if stops else None)


def test_worker_takes_one_message_at_a_time(kit):
    seen, count = _worker_killed(kit)
    held = count - seen["lowest"]
    if held > 1:
        kit.fail(f"worker() held {held} messages at once while it was still working on its first one.",
                 expected="1 message at a time: the others stay in the queue for free workers",
                 got=f"{held} of {count} messages taken off the queue within {WINDOW} s",
                 look_at="channel.basic_qos(prefetch_count=1) before consuming, and ack each message "
                         "after its work, not before (auto_ack ignores the prefetch limit)",
                 mistake="ex07.auto-ack" if _lost(seen, count) > 2 else "ex07.no-prefetch")


def test_killed_worker_loses_nothing(kit):
    seen, count = _worker_killed(kit)
    back = count - _lost(seen, count)
    if back != count:
        kit.fail(f"A worker killed in the middle of a message lost {count - back} message(s): the broker "
                 "had already forgotten them.",
                 expected=f"all {count} messages back in the queue after the kill",
                 got=f"{back} back in the queue",
                 look_at="consume with auto_ack=False and call channel.basic_ack(delivery_tag) only after "
                         "the work (sleep, results.put); the broker redelivers what was never acked",
                 # auto_ack loses every message the broker pushed, and it pushes them all at once
                 # whatever the prefetch; an ack before the work loses the one or two the worker took
                 mistake="ex07.auto-ack" if count - back > 2 else "ex07.ack-before-work")


def _lost(seen, count) -> int:
    """How many messages the broker forgot when the worker was killed (it redelivers the others)."""
    return count - (seen["after_kill"] if seen["after_kill"] is not None else 0)


def test_every_item_handled_exactly_once(kit):
    _run(kit, kit.text_batches([5, 5, 5]), 2)


def test_one_stop_per_worker(kit):
    _run(kit, kit.text_batches([8]), 3)


def test_stops_wait_for_every_publisher(kit):
    _run(kit, kit.text_batches([1, 8, 2]), 2, producer_delay=0.03)


def test_one_connection_per_process(kit):
    batches = kit.text_batches([3, 3])
    seen = _run(kit, batches, 2, worker_delay=0.01).value
    if seen["threads"]:
        kit.fail("run() used threads; this exercise is about processes.",
                 expected="multiprocessing.Process", got=f"threads running {', '.join(seen['threads'])}",
                 mistake="any.threads-not-processes")
    if len(seen["processes"]) < len(batches) + 2:
        kit.fail("run() must start one publishing process per batch and n_workers worker processes.",
                 expected=f"{len(batches)} publishers + 2 workers = at least {len(batches) + 2} processes",
                 got=f"{len(seen['processes'])}: {', '.join(seen['processes'])}")
