"""Hidden checks for ex07_rabbitmq (they need the broker, like the visible ones)."""

from grader.checking.mistakes import Words
from grader.checking.scenarios.ex07_rabbitmq import RUN_WORK_QUEUE, WORKER_UNTIL_STOP
from grader.grading.hidden import points

# bzk-canary-93e1f7c04ab2d658: the kit's hidden checks (see grader/grading/hidden/__init__.py)


def _run(kit, batches, n_workers, producer_delay=0.0, worker_delay=0.0):
    url, name = kit.broker_url(), kit.queue_name("hidden")
    seen = kit.run(RUN_WORK_QUEUE, url=url, queue_name=name, batches=batches, n_workers=n_workers,
                   producer_delay=producer_delay, worker_delay=worker_delay).value
    expected = [item for batch in batches for item in batch]
    if isinstance(seen.value, list):
        kit.expect_sentinels_after_producers(seen, what="run()", sentinel=Words("a-stop"),
                                             look_at="join-publishers-then-stops")
        kit.expect_every_result_taken(seen, what="run()")
    kit.expect_items(seen.value, expected, what="run()", ordered=False,
                     look_at="ex07.stop-per-worker-after-joins")
    kit.expect_clean_shutdown(seen, what="run()")
    if seen.left:
        kit.fail("ex07.messages-left-briefly", count=len(seen.left),
                 bodies=", ".join(repr(b) for b in seen.left[:3]))


# The first hidden check of an exercise runs under the dearest start method, spawn
# (grader.grading.checklist.Plan): it is the one that starts the fewest processes.
@points(1)
def check_worker_with_empty_and_unicode_bodies(kit):
    url, name = kit.broker_url(), kit.queue_name("hidden-worker")
    items = ["", "0", "🥟 包子", "None", *kit.texts(4, salt="hidden")]
    seen = kit.run(WORKER_UNTIL_STOP, url=url, queue_name=name, items=items, behind="behind").value
    if seen.bad_stop is not None:
        kit.fail("ex07.bad-stop-briefly", stop=seen.bad_stop, mistake="ex07.stop-never-matches")
    kit.expect_items(seen.got, items, what=Words("ex07.worker-results"), ordered=True,
                     look_at="ex07.empty-body")
    if seen.answer != ("returned", len(items)):
        kit.fail("ex07.worker-count-briefly", count=len(items), answer=repr(seen.answer))


@points(2)
def check_many_publishers_few_workers(kit):
    _run(kit, kit.text_batches([4, 0, 7, 1, 5]), 2, producer_delay=0.01)


@points(1)
def check_slow_workers_and_unicode(kit):
    _run(kit, kit.text_batches([6, 6]), 3, worker_delay=0.02)
