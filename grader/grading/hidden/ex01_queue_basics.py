"""Hidden checks for ex01_queue_basics."""

from grader.checking.mistakes import Words
from grader.checking.scenarios.ex01_queue_basics import LATE_ITEMS, PUT_ALL_WAITS
from grader.grading.hidden import points

# bzk-canary-93e1f7c04ab2d658: the kit's hidden checks (see grader/grading/hidden/__init__.py)


# The first hidden check of an exercise runs under the dearest start method, spawn
# (grader.grading.checklist.Plan): it is the one that starts the fewest processes.
@points(2)
def check_drain_waits_for_late_items(kit):
    items = kit.items(4, salt="late")
    # Each item is put `gap` after drain() asks for it (scenarios.ex01_queue_basics.KitQueue): a get
    # that waits at least that long gets it however busy the machine is; one that waits less fails.
    timeout = 3.0
    seen = kit.run(LATE_ITEMS, items=items, gap=0.1, call="drain", timeout=timeout).value
    if seen.got == "raised queue.Empty":
        kit.fail("ex01.drain-raised-too-soon", mistake="ex01.drain-gives-up-early")
    kit.expect_items(seen.got, items, what=Words("ex01.drain-producer-putting"),
                     ordered=True, look_at="ex01.wait-up-to-timeout",
                     mistake="ex01.drain-gives-up-early", order_mistake="ex01.not-fifo")


@points(2)
def check_try_get_waits_for_a_late_item(kit):
    items = kit.items(2, edge=False, salt="late")
    timeout = 3.0
    seen = kit.run(LATE_ITEMS, items=items, gap=0.2, call="try_get", timeout=timeout).value
    kit.expect_items(seen.got, items, what=Words("ex01.try-get-item-on-way"), ordered=True,
                     look_at="ex01.empty-now-may-fill")


@points(1)
def check_put_all_with_a_tiny_queue_and_large_items(kit):
    items = kit.items(6, large=3, salt="tiny")
    seen = kit.run(PUT_ALL_WAITS, action=Words("ex01.put-all-large"), items=items, consumer_delay=0.01).value
    kit.expect_items(seen.got, items, what=Words("ex01.slow-consumer-received"), ordered=True,
                     look_at="ex01.wait-while-full",
                     mistake="ex01.put-all-drops-items", order_mistake="ex01.not-fifo")
