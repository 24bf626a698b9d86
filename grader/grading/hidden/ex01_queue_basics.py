"""Hidden checks for ex01_queue_basics."""

from grader.grading.hidden import points

# bzk-canary-93e1f7c04ab2d658: the kit's hidden checks (see grader/grading/hidden/__init__.py)


@points(2)
def check_drain_waits_for_late_items(kit):
    items = kit.items(4, salt="late")
    # The timeout is far above the gaps: a drain() that waits at all gets every item, even on a
    # loaded machine; one that does not wait fails at once.
    seen = kit.run("late_items", action="drain(q, 4, timeout=3.0) while items are still coming",
                   items=items, gap=0.1, call="drain", timeout=3.0, work=0.5, processes=1).value
    if seen["got"] == "raised queue.Empty":
        kit.fail("drain() raised queue.Empty although every item arrived within its timeout.",
                 got="queue.Empty", look_at="q.get(timeout=timeout) for each item",
                 mistake="ex01.drain-gives-up-early")
    kit.expect_items(seen["got"], items, what="drain() with a producer that is still putting",
                     ordered=True, look_at="wait up to `timeout` for each item: q.get(timeout=timeout)",
                     mistake="ex01.drain-gives-up-early", order_mistake="ex01.not-fifo")


@points(2)
def check_try_get_waits_for_a_late_item(kit):
    items = kit.items(2, edge=False, salt="late")
    seen = kit.run("late_items", action="try_get(q, timeout=3.0) while an item is on its way",
                   items=items, gap=0.2, call="try_get", timeout=3.0, work=0.5, processes=1).value
    kit.expect_items(seen["got"], items, what="try_get() with an item on its way", ordered=True,
                     look_at="an empty queue now may hold an item within the timeout: "
                             "q.get(timeout=timeout), not q.empty()")


@points(1)
def check_put_all_with_a_tiny_queue_and_large_items(kit):
    items = kit.items(6, large=3, salt="tiny")
    seen = kit.run("put_all_waits", action="put_all(Queue(2), large items)", items=items,
                   consumer_delay=0.01, work=0.2, processes=1).value
    kit.expect_items(seen["got"], items, what="what a slow consumer received", ordered=True,
                     look_at="wait while the queue is full; never drop an item",
                     mistake="ex01.put-all-drops-items", order_mistake="ex01.not-fifo")
