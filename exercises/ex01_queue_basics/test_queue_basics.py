"""Visible checks for exercise 1. Run: pytest exercises/ex01_queue_basics

Each check runs your module in a separate process with a time budget; if it hangs, the report
says which process waited where.
"""

from grader.checking.mistakes import Words
from grader.checking.payloads import short
from grader.checking.scenarios.ex01_queue_basics import (BOUNDED, DRAIN_EMPTY, DRAIN_FIFO, LATE_ITEMS, PUT_ALL_ORDER,
                                                       PUT_ALL_WAITS, TRY_GET, TRY_PUT, UNBOUNDED)

# What a failure says to look at is a name of the words in grader/checking/catalogue/<language>.toml.
LOOK_AT_TIMEOUTS = "ex01.timeouts-raise"
LOOK_AT_LATE = "ex01.wait-for-each-item"


def test_make_queue_holds_at_most_maxsize(kit):
    items = kit.items(4)
    seen = kit.run(BOUNDED, items=items).value
    if seen.kind != "ok":
        kit.fail("ex01.not-mp-queue", call="make_queue(3)", kind=seen.kind,
                 look_at="ex01.queue-queue-threads-only",
                 mistake="any.threads-not-processes" if seen.kind == "queue.Queue" else None)
    if seen.stored != [True, True, True, False]:
        kit.fail("ex01.maxsize-not-kept", stored=seen.stored.count(True), mistake="ex01.maxsize-ignored")
    if not seen.full:
        kit.fail("ex01.not-full", full=repr(seen.full))
    kit.expect_items(seen.got, items[:3], what=Words("ex01.three-taken-back"), ordered=True,
                     look_at="ex01.fifo", order_mistake="ex01.not-fifo")


def test_make_queue_is_unbounded_by_default(kit):
    items = kit.items(50, edge=False)
    seen = kit.run(UNBOUNDED, items=items).value
    for call, kind, stored in zip(("make_queue()", "make_queue(0)"), seen.kinds, seen.stored):
        if kind != "ok":
            kit.fail("ex01.not-mp-queue", call=call, kind=kind,
                     mistake="any.threads-not-processes" if kind == "queue.Queue" else None)
        if stored != len(items):
            kit.fail("ex01.bounded-by-default", call=call, count=len(items), stored=stored)


def test_put_all_keeps_order_and_counts(kit):
    items = kit.items(12)
    seen = kit.run(PUT_ALL_ORDER, items=items).value
    if seen.count != len(items):
        kit.fail("ex01.put-all-count", count=len(items), returned=repr(seen.count))
    kit.expect_items(seen.got, items, what=Words("ex01.queue-after-put-all"), ordered=True,
                     look_at="ex01.put-every-item", order_mistake="ex01.not-fifo")


def test_put_all_waits_while_the_queue_is_full(kit):
    items = kit.items(10)
    delay = 0.02
    seen = kit.run(PUT_ALL_WAITS, items=items, consumer_delay=delay).value
    kit.expect_items(seen.got, items, what=Words("ex01.slow-consumer-received"), ordered=True,
                     look_at="ex01.wait-for-room", mistake="ex01.put-all-drops-items", order_mistake="ex01.not-fifo")
    if seen.count != len(items):
        kit.fail("ex01.put-all-count", count=len(items), returned=repr(seen.count))


def test_drain_returns_the_next_n_in_order(kit):
    late = kit.items(3, edge=False, salt="late")
    gap, timeout = 0.05, 1.0
    seen = kit.run(LATE_ITEMS, items=late, gap=gap, call="drain", timeout=timeout).value
    if seen.got == "raised queue.Empty":
        kit.fail("ex01.drain-raised-early", count=len(late), gap=gap, timeout=timeout, look_at=LOOK_AT_LATE,
                 mistake="ex01.drain-gives-up-early")
    kit.expect_items(seen.got, late, what=Words("ex01.drain-producer-still-putting"), ordered=True,
                     look_at=LOOK_AT_LATE, mistake="ex01.drain-gives-up-early", order_mistake="ex01.not-fifo")
    items = kit.items(8)
    seen = kit.run(DRAIN_FIFO, items=items).value
    kit.expect_items(seen.first, items[:3], what="drain(q, 3)", ordered=True,
                     look_at="ex01.take-n-in-order", order_mistake="ex01.not-fifo")
    kit.expect_items(seen.rest, items[3:], what=Words("ex01.next-drain", call=f"drain(q, {len(items) - 3})"),
                     ordered=True, look_at="ex01.falsy-count-too", order_mistake="ex01.not-fifo")


def test_drain_raises_empty_when_an_item_is_late(kit):
    items = kit.items(4)
    timeout = 0.2
    seen = kit.run(DRAIN_EMPTY, items=items, timeout=timeout).value
    if seen.raised != "Empty":
        kit.fail("ex01.drain-did-not-raise", value=short(seen.got, 60), mistake="ex01.drain-hides-empty")


def test_try_put_reports_a_full_queue_without_hanging(kit):
    items = kit.items(3, edge=False)
    seen = kit.run(TRY_PUT, items=items).value
    if seen.first is not True or seen.falsy is not True:
        kit.fail("ex01.try-put-stored", first=repr(seen.first), falsy=repr(seen.falsy))
    if seen.full is not False:
        kit.fail("ex01.try-put-full", returned=repr(seen.full), look_at=LOOK_AT_TIMEOUTS)
    if seen.waiting_call is not None:
        kit.fail("ex01.waited-at-timeout-zero", function="try_put()", call=seen.waiting_call,
                 look_at="ex01.pass-timeout-to-put", mistake="ex01.try-put-blocks")
    if seen.full_waiting is not False or seen.waited < 0.15:
        kit.fail("ex01.try-put-wait", returned=repr(seen.full_waiting), waited=seen.waited,
                 look_at=LOOK_AT_TIMEOUTS, mistake="ex01.try-put-no-wait" if seen.waited < 0.15 else None)
    kit.expect_items(seen.got, [items[0], 0], what=Words("ex01.queue-afterwards"), ordered=True,
                     look_at="ex01.refused-not-stored")


def test_try_get_returns_items_or_the_default(kit):
    items = [0, "", [], *kit.items(3, edge=False)]
    seen = kit.run(TRY_GET, items=items).value
    if seen.empty_default is not None or seen.empty_custom != "nothing":
        kit.fail("ex01.try-get-default", default=repr(seen.empty_default), custom=repr(seen.empty_custom),
                 look_at=LOOK_AT_TIMEOUTS)
    if seen.waiting_call is not None:
        kit.fail("ex01.waited-at-timeout-zero", function="try_get()", call=seen.waiting_call)
    kit.expect_items(seen.got, items, what=Words("ex01.try-get-returned"), ordered=True,
                     look_at="ex01.falsy-is-an-item",
                     mistake="ex01.falsy-item-taken-for-default", order_mistake="ex01.not-fifo")
    if seen.after != "empty" or seen.waited < 0.15:
        kit.fail("ex01.try-get-wait", returned=repr(seen.after), waited=seen.waited)
