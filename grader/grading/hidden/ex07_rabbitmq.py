"""Hidden checks for ex07_rabbitmq (they need the broker, like the visible ones)."""

from grader.grading.hidden import points

# bzk-canary-93e1f7c04ab2d658: the kit's hidden checks (see grader/grading/hidden/__init__.py)


def _run(kit, batches, n_workers, producer_delay=0.0, worker_delay=0.0):
    url, name = kit.broker_url(), kit.queue_name("hidden")
    work = kit.pipeline_work(batches, n_workers, producer_delay, worker_delay)
    seen = kit.run("run_work_queue", action=f"run(url, {name!r}, batches, {n_workers})", url=url,
                   queue_name=name, batches=batches, n_workers=n_workers,
                   producer_delay=producer_delay, worker_delay=worker_delay, work=work,
                   processes=len(batches) + n_workers + 1).value
    expected = [item for batch in batches for item in batch]
    if isinstance(seen["value"], list):
        kit.expect_sentinels_after_producers(seen, what="run()", sentinel="a STOP",
                                             look_at="join every publisher first, then publish the STOPs")
        kit.expect_every_result_taken(seen, what="run()")
    kit.expect_items(seen["value"], expected, what="run()", ordered=False,
                     look_at="one STOP per worker, after every publisher has been joined")
    kit.expect_clean_shutdown(seen, what="run()")
    if seen["left"]:
        kit.fail(f"run() left {len(seen['left'])} message(s) in the queue.", expected="an empty queue",
                 got=", ".join(repr(b) for b in seen["left"][:3]))


@points(2)
def check_many_publishers_few_workers(kit):
    _run(kit, kit.text_batches([4, 0, 7, 1, 5]), 2, producer_delay=0.01)


@points(1)
def check_slow_workers_and_unicode(kit):
    _run(kit, kit.text_batches([6, 6]), 3, worker_delay=0.02)


@points(1)
def check_worker_with_empty_and_unicode_bodies(kit):
    url, name = kit.broker_url(), kit.queue_name("hidden-worker")
    items = ["", "0", "🥟 包子", "None", *kit.texts(4, salt="hidden")]
    seen = kit.run("worker_until_stop", action=f"worker(url, {name!r}, results)", url=url,
                   queue_name=name, items=items, behind="behind", processes=1, work=1.5).value
    if "bad_stop" in seen:
        kit.fail("STOP must be a module-level str that no item equals.", got=seen["bad_stop"],
                 mistake="ex07.stop-never-matches")
    kit.expect_items(seen["got"], items, what="worker()'s results", ordered=True,
                     look_at="an empty body is an item too: compare with STOP, not with truthiness")
    if seen["answer"] != ("returned", len(items)):
        kit.fail("worker() must return the number of items it handled.", expected=str(len(items)),
                 got=repr(seen["answer"]))
