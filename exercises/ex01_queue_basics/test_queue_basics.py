"""Visible checks for exercise 1. Run: pytest exercises/ex01_queue_basics

Each check runs your module in a separate process with a time budget; if it hangs, the report
says which process waited where.
"""

from grader.checking.payloads import short

LOOK_AT_TIMEOUTS = "put(item, timeout=t) raises queue.Full; get(timeout=t) raises queue.Empty"
LOOK_AT_LATE = ("wait up to `timeout` for each item: q.get(timeout=timeout), not get_nowait() or "
                "q.empty() (an item can still be on its way)")


def test_make_queue_holds_at_most_maxsize(kit):
    items = kit.items(4)
    seen = kit.run("bounded", action="make_queue(3)", items=items).value
    if seen["kind"] != "ok":
        kit.fail("make_queue(3) must return a multiprocessing.Queue.", expected="multiprocessing.Queue",
                 got=seen["kind"], look_at="queue.Queue only works between threads of one process",
                 mistake="any.threads-not-processes" if seen["kind"] == "queue.Queue" else None)
    if seen["stored"] != [True, True, True, False]:
        kit.fail("A queue made with maxsize 3 must take 3 items and refuse a 4th while full.",
                 expected="3 puts stored, the 4th times out",
                 got=f"{seen['stored'].count(True)} of 4 puts stored",
                 look_at="pass maxsize on to multiprocessing.Queue(maxsize)", mistake="ex01.maxsize-ignored")
    if not seen["full"]:
        kit.fail("After 3 puts, q.full() should be True.", expected="True", got=repr(seen["full"]))
    kit.expect_items(seen["got"], items[:3], what="the 3 items taken back", ordered=True,
                     look_at="a queue is first in, first out", order_mistake="ex01.not-fifo")


def test_make_queue_is_unbounded_by_default(kit):
    items = kit.items(50, edge=False)
    seen = kit.run("unbounded", action="make_queue()", items=items).value
    for call, kind, stored in zip(("make_queue()", "make_queue(0)"), seen["kinds"], seen["stored"]):
        if kind != "ok":
            kit.fail(f"{call} must return a multiprocessing.Queue.", expected="multiprocessing.Queue",
                     got=kind, mistake="any.threads-not-processes" if kind == "queue.Queue" else None)
        if stored != len(items):
            kit.fail(f"{call} should make a queue with no size limit.",
                     expected=f"{len(items)} puts without waiting", got=f"it was full after {stored}",
                     look_at="maxsize 0 (the default) means unbounded")


def test_put_all_keeps_order_and_counts(kit):
    items = kit.items(12)
    seen = kit.run("put_all_order", action="put_all(q, items)", items=items).value
    if seen["count"] != len(items):
        kit.fail("put_all() must return how many items it put.", expected=str(len(items)),
                 got=repr(seen["count"]))
    kit.expect_items(seen["got"], items, what="the queue after put_all()", ordered=True,
                     look_at="put every item, falsy ones (0, '', []) included, in the given order",
                     order_mistake="ex01.not-fifo")


def test_put_all_waits_while_the_queue_is_full(kit):
    items = kit.items(10)
    delay = 0.02
    seen = kit.run("put_all_waits", action="put_all(Queue(2), items)", items=items,
                   consumer_delay=delay, work=len(items) * delay, processes=1).value
    kit.expect_items(seen["got"], items, what="what a slow consumer received", ordered=True,
                     look_at="when the queue is full, wait for room (a plain q.put() does); "
                             "never drop an item", mistake="ex01.put-all-drops-items", order_mistake="ex01.not-fifo")
    if seen["count"] != len(items):
        kit.fail("put_all() must return how many items it put.", expected=str(len(items)),
                 got=repr(seen["count"]))


def test_drain_returns_the_next_n_in_order(kit):
    late = kit.items(3, edge=False, salt="late")
    seen = kit.run("late_items", action="drain(q, 3, timeout=1.0) while the items are on their way",
                   items=late, gap=0.05, call="drain", timeout=1.0, work=0.2, processes=1).value
    if seen["got"] == "raised queue.Empty":
        kit.fail("drain() raised queue.Empty although every item arrived within its timeout.",
                 expected="3 items, each 0.05 s after the previous one (timeout 1.0 s)",
                 got="queue.Empty", look_at=LOOK_AT_LATE, mistake="ex01.drain-gives-up-early")
    kit.expect_items(seen["got"], late, what="drain() while a producer is still putting", ordered=True,
                     look_at=LOOK_AT_LATE, mistake="ex01.drain-gives-up-early", order_mistake="ex01.not-fifo")
    items = kit.items(8)
    seen = kit.run("drain_fifo", action="drain(q, 3)", items=items).value
    kit.expect_items(seen["first"], items[:3], what="drain(q, 3)", ordered=True,
                     look_at="take exactly n items, in the order they come", order_mistake="ex01.not-fifo")
    kit.expect_items(seen["rest"], items[3:], what=f"the next drain(q, {len(items) - 3})",
                     ordered=True, look_at="take exactly n items; falsy items count too",
                     order_mistake="ex01.not-fifo")


def test_drain_raises_empty_when_an_item_is_late(kit):
    items = kit.items(4)
    timeout = 0.2
    seen = kit.run("drain_empty", action="drain(q, 3, timeout=0.2) with 2 items queued",
                   items=items, timeout=timeout, work=timeout).value
    if seen["raised"] != "Empty":
        kit.fail("drain() must raise queue.Empty when an item does not arrive in time.",
                 expected="queue.Empty raised", got=f"it returned {short(seen['got'], 60)}",
                 look_at="let the queue.Empty from q.get(timeout=...) propagate", mistake="ex01.drain-hides-empty")


def test_try_put_reports_a_full_queue_without_hanging(kit):
    items = kit.items(3, edge=False)
    seen = kit.run("try_put", action="try_put(q, item)", items=items, work=0.2).value
    if seen["first"] is not True or seen["falsy"] is not True:
        kit.fail("try_put() must return True when it stored the item (even a falsy one like 0).",
                 expected="True, True", got=f"{seen['first']!r}, {seen['falsy']!r}")
    if seen["full"] is not False:
        kit.fail("try_put() on a full queue must return False.", expected="False",
                 got=repr(seen["full"]), look_at=LOOK_AT_TIMEOUTS)
    if seen["quick"] > 0.2:
        kit.fail("try_put() with timeout 0 must not wait.", expected="an answer at once",
                 got=f"it took {seen['quick']:.2f} s", look_at="pass timeout on to q.put",
                 mistake="ex01.try-put-blocks")
    if seen["full_waiting"] is not False or seen["waited"] < 0.15:
        kit.fail("try_put(q, item, timeout=0.2) on a full queue must wait about 0.2 s, then return False.",
                 expected="False after about 0.2 s",
                 got=f"{seen['full_waiting']!r} after {seen['waited']:.2f} s", look_at=LOOK_AT_TIMEOUTS,
                 mistake="ex01.try-put-no-wait" if seen["waited"] < 0.15 else None)
    kit.expect_items(seen["got"], [items[0], 0], what="the queue afterwards", ordered=True,
                     look_at="a refused item must not be stored")


def test_try_get_returns_items_or_the_default(kit):
    items = [0, "", [], *kit.items(3, edge=False)]
    seen = kit.run("try_get", action="try_get(q)", items=items, work=0.2).value
    if seen["empty_default"] is not None or seen["empty_custom"] != "nothing":
        kit.fail("try_get() on an empty queue must return the default.",
                 expected="None, then 'nothing' with default='nothing'",
                 got=f"{seen['empty_default']!r}, {seen['empty_custom']!r}", look_at=LOOK_AT_TIMEOUTS)
    if seen["quick"] > 0.2:
        kit.fail("try_get() with timeout 0 must not wait.", expected="an answer at once",
                 got=f"it took {seen['quick']:.2f} s")
    kit.expect_items(seen["got"], items, what="the items try_get() returned", ordered=True,
                     look_at="a falsy item (0, '', []) is an item: return it, not the default",
                     mistake="ex01.falsy-item-taken-for-default", order_mistake="ex01.not-fifo")
    if seen["after"] != "empty" or seen["waited"] < 0.15:
        kit.fail("try_get(q, timeout=0.2) on an empty queue must wait about 0.2 s, then return the default.",
                 expected="'empty' after about 0.2 s", got=f"{seen['after']!r} after {seen['waited']:.2f} s")
