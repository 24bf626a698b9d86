"""Scenarios for ex01_queue_basics: a bounded queue, put_all, drain, try_put, try_get."""

from __future__ import annotations

import multiprocessing
import multiprocessing.queues
import os
import queue
import time

from grader.checking.driver import awaiting_student, start_kit_process
from grader.checking.scenarios.common import Diagnosis, Scenario, Seen, collect, describe, says, timed, words

WAIT = 0.2  # the timeout try_put and try_get are given on a full or empty queue
AT_ONCE = 0.2  # a put or get that may wait at most this long still answers "at once"


def kit_slow_consumer(q, out, turns, taken, total, delay: float, timeout: float) -> None:
    """The kit's slow consumer (see RoomQueue): takes an item from `q` at each of its turns, says so
    on `taken`, and passes the item to `out` `delay` seconds later. It ends once it has taken the
    `total` items the student stored, when the student's call has returned and given that total."""
    count = 0
    while True:
        with awaiting_student():  # for the student's next put; at the timeout it only ends
            if not turns.acquire(timeout=timeout):
                return
        if 0 <= total.value <= count:
            return
        try:
            item = q.get(timeout=timeout)
        except queue.Empty:
            return
        count += 1
        taken.release()
        time.sleep(delay)
        out.put(item)


def _longest_wait(block: bool, timeout) -> float | None:
    """How long a put or get called with (block, timeout) may wait: None for ever."""
    if not block:
        return 0.0
    return None if timeout is None else max(0.0, timeout)


class _MakersQueue(multiprocessing.queues.Queue):
    """A queue whose methods do more only in the process that made it (_watched): a copy in a kit
    helper (pickled, or forked) is a plain queue."""

    def __init__(self, maxsize: int = 0):
        super().__init__(maxsize, ctx=multiprocessing.get_context())
        self._owner = os.getpid()

    def __setstate__(self, state) -> None:
        super().__setstate__(state)
        self._owner = None

    def _watched(self) -> bool:
        return getattr(self, "_owner", None) == os.getpid()


class KitQueue(_MakersQueue):
    """The kit's own queue for ex01's checks: it notes how long each put and get of the student's
    may wait, and whether an item the kit has sent reaches a get follows from that get's call, not
    from how busy the machine is.

    `expect(n)`: n more items are on their way. With `patience` None they are in the queue already
    (put by the kit before the student's call): every get takes one, even a get_nowait() that the
    feeder thread of a busy process has not caught up with. With a `patience` they come from the
    kit's late producer: a get that would wait at least `patience` seconds (the item's lateness)
    takes one, waiting as long as the check has left; a get that waits less runs as called.
    `asked` is released at each get (after the get when it waits less) and each empty(): the late
    producer puts its next item only then, so a get that waits less never finds it there, however
    the processes were scheduled, while a loop that polls still sees it come.

    Only the process that made the queue keeps these notes (_MakersQueue)."""

    def __init__(self, maxsize: int = 0, *, remaining, patience: float | None = None, asked=None):
        super().__init__(maxsize)
        self.calls: list[tuple[str, bool, object]] = []
        self._remaining, self._patience, self._asked = remaining, patience, asked
        self._coming = 0

    def expect(self, count: int) -> None:
        self._coming += count

    def put(self, obj, block=True, timeout=None):
        if self._watched():
            self.calls.append(("put", block, timeout))
        return super().put(obj, block, timeout)

    def get(self, block=True, timeout=None):
        if not self._watched():
            return super().get(block, timeout)
        self.calls.append(("get", block, timeout))
        if self._coming > 0 and self._waits_long_enough(block, timeout):
            self._ask()
            item = super().get(True, max(0.0, self._remaining()))
        else:
            try:
                item = super().get(block, timeout)
            finally:
                self._ask()
        self._coming = max(0, self._coming - 1)
        return item

    def empty(self) -> bool:
        if not self._watched():
            return super().empty()
        if self._coming > 0 and self._patience is None:
            return False
        try:
            return super().empty()
        finally:
            self._ask()  # a loop that polls empty() asks for the next item too

    def _waits_long_enough(self, block: bool, timeout) -> bool:
        if self._patience is None:
            return True
        wait = _longest_wait(block, timeout)
        return block and (wait is None or wait >= self._patience)

    def _ask(self) -> None:
        if self._asked is not None:
            self._asked.release()

    def waiting_call(self, since: int = 0) -> str | None:
        """The call, from the `since`th on, that could wait longest, as code; None if every call
        answers at once (does not block, or may wait AT_ONCE at most)."""
        waits = [(_longest_wait(block, timeout), name, block, timeout)
                 for name, block, timeout in self.calls[since:]]
        waits = [w for w in waits if w[0] is None or w[0] > AT_ONCE]
        if not waits:
            return None
        _, name, block, timeout = max(waits, key=lambda w: float("inf") if w[0] is None else w[0])
        return f"q.{name}(block={block!r}, timeout={timeout!r})"


class RoomQueue(_MakersQueue):
    """The kit's bounded queue for put_all(): the kit's consumer takes an item only when the queue
    is full and the student's code waits for room, so what a put finds follows from how it was
    called, not from how the processes were scheduled.

    On a full queue, a put that may wait at least `patience` seconds (the consumer's delay) gets
    room first, then waits as long as the check has left; a put that waits less is refused (Full),
    and room is made after it, for a retry. full() and qsize() answer truly, then make room, so a
    loop that polls them goes on. Making room is one turn of the consumer and a wait for its
    get(): the count of items in the queue is then exact whenever the student's code runs.

    Only the process that made the queue does this (_MakersQueue)."""

    def __init__(self, maxsize: int, *, remaining, patience: float):
        super().__init__(maxsize)
        self.turns = multiprocessing.Semaphore(0)
        self.taken = multiprocessing.Semaphore(0)
        self.total = multiprocessing.Value("i", -1, lock=False)
        self._capacity, self._remaining, self._patience = maxsize, remaining, patience
        self._stored = self._asked = 0

    def put(self, obj, block=True, timeout=None):
        if not self._watched():
            return super().put(obj, block, timeout)
        wait = _longest_wait(block, timeout)
        if not super().full():
            super().put(obj, block, timeout)
        elif wait is None or wait >= self._patience:
            self._make_room()
            super().put(obj, True, max(0.0, self._remaining()))
        else:
            try:
                super().put(obj, block, timeout)  # refused: nothing has taken an item
            finally:
                self._make_room()
        self._stored += 1

    def full(self) -> bool:
        answer = super().full()
        if answer and self._watched():
            self._make_room()
        return answer

    def qsize(self) -> int:
        answer = super().qsize()
        if self._watched() and answer >= self._capacity:
            self._make_room()
        return answer

    def _make_room(self) -> None:
        self._asked += 1
        self.turns.release()
        self.taken.acquire(timeout=max(0.0, self._remaining()))

    def finish(self) -> None:
        """The student's call has returned: the consumer takes what is left, then ends."""
        if not self._watched():
            return
        self.total.value = self._stored
        for _ in range(self._stored - self._asked + 1):  # one turn per item left, one to end
            self.turns.release()


def _queue_or_none(q):
    return q if isinstance(q, multiprocessing.queues.Queue) else None


def bounded(ctx, items):
    q = ctx.func("make_queue")(3)
    if _queue_or_none(q) is None:
        return {"kind": describe(q)}
    stored = []
    for item in items[:4]:
        try:
            q.put(item, timeout=0.1)
            stored.append(True)
        except queue.Full:
            stored.append(False)
    full = q.full()
    return {"kind": "ok", "stored": stored, "full": full, "got": collect(q, sum(stored), ctx)}


def unbounded(ctx, items):
    kinds, stored = [], []
    for q in (ctx.func("make_queue")(), ctx.func("make_queue")(0)):
        kinds.append(describe(q) if _queue_or_none(q) is None else "ok")
        count = 0
        if _queue_or_none(q) is not None:
            for item in items:
                try:
                    q.put(item, timeout=0.2)
                    count += 1
                except queue.Full:
                    break
        stored.append(count)
    return {"kinds": kinds, "stored": stored}


def put_all_order(ctx, items):
    q = multiprocessing.Queue()
    count = ctx.func("put_all")(q, items)
    return {"count": count, "got": collect(q, len(items), ctx)}


def put_all_waits(ctx, items, consumer_delay):
    q = RoomQueue(2, remaining=ctx.remaining, patience=consumer_delay)
    out = multiprocessing.Queue()
    helper = multiprocessing.Process(target=kit_slow_consumer, name="kit-helper",
                                     args=(q, out, q.turns, q.taken, q.total, consumer_delay, ctx.remaining()))
    start_kit_process(helper)  # before anything is put: fork must not copy a running feeder thread
    try:
        count = ctx.func("put_all")(q, items)
    finally:
        q.finish()
    got = collect(out, len(items), ctx)
    helper.join(ctx.remaining())
    if helper.is_alive():
        helper.kill()
        helper.join()
    return {"count": count, "got": got}


def drain_fifo(ctx, items):
    q = KitQueue(remaining=ctx.remaining)
    for item in items:
        q.put(item)
    q.expect(len(items))
    drain = ctx.func("drain")
    first = drain(q, 3, timeout=1.0)
    rest = drain(q, len(items) - 3, timeout=1.0)
    return {"first": first, "rest": rest}


def drain_empty(ctx, items, timeout):
    q = KitQueue(remaining=ctx.remaining)
    for item in items[:2]:
        q.put(item)
    q.expect(2)
    try:
        got = ctx.func("drain")(q, 3, timeout=timeout)
        raised = None
    except queue.Empty:
        got, raised = None, "Empty"
    return {"raised": raised, "got": got}


def try_put(ctx, items):
    try_put = ctx.func("try_put")
    q = KitQueue(2, remaining=ctx.remaining)
    first = try_put(q, items[0])
    falsy = try_put(q, 0)
    calls = len(q.calls)
    full = try_put(q, items[1])
    waiting_call = q.waiting_call(calls)
    full_waiting, waited = timed(try_put, q, items[2], timeout=WAIT)
    return {"first": first, "falsy": falsy, "full": full, "waiting_call": waiting_call,
            "full_waiting": full_waiting, "waited": waited, "got": collect(q, 2, ctx)}


def try_get(ctx, items):
    try_get = ctx.func("try_get")
    q = KitQueue(remaining=ctx.remaining)
    empty_default = try_get(q)
    waiting_call = q.waiting_call()
    empty_custom = try_get(q, default="nothing")
    for item in items:
        q.put(item)
    q.expect(len(items))
    got = [try_get(q, timeout=1.0, default="<default>") for _ in items]
    after, waited = timed(try_get, q, timeout=WAIT, default="empty")
    return {"empty_default": empty_default, "waiting_call": waiting_call, "empty_custom": empty_custom,
            "got": got, "after": after, "waited": waited}


def kit_late_producer(q, items, gap: float, asked, done) -> None:
    """A producer of the kit's own that puts each item `gap` seconds after a get asked for it."""
    for item in items:
        with awaiting_student():  # for the student's next get
            asked.acquire()
        if done.is_set():
            return
        time.sleep(gap)
        q.put(item)


def late_items(ctx, items, gap, call, timeout):
    """drain(q, len(items)) or try_get(q) while a slow producer is still putting the items.

    Each item is put `gap` seconds after the get that asks for it: a get that waits at least that
    long gets it (KitQueue), one that waits less finds nothing, whatever the machine's load."""
    asked = multiprocessing.Semaphore(0)
    done = multiprocessing.Event()
    q = KitQueue(remaining=ctx.remaining, patience=gap, asked=asked)
    q.expect(len(items))
    helper = multiprocessing.Process(target=kit_late_producer, name="kit-helper",
                                     args=(q, items, gap, asked, done))
    start_kit_process(helper)
    try:
        if call == "drain":
            try:
                got = ctx.func("drain")(q, len(items), timeout=timeout)
            except queue.Empty:
                got = "raised queue.Empty"
        else:
            got = [ctx.func("try_get")(q, timeout=timeout, default="<default>") for _ in items]
    finally:
        done.set()
        for _ in items:
            asked.release()
        helper.join(ctx.remaining())
        if helper.is_alive():
            helper.kill()
            helper.join()
    return {"got": got}


# -- the scenarios as the checks name them -------------------------------------------------------

def _late_action(items, call, timeout, **_):
    if call == "drain":
        return words("ex01.drain-while-on-way", count=len(items), timeout=timeout)
    return words("ex01.try-get-while-on-way", timeout=timeout)


class BoundedSeen(Seen):
    kind: str  # "ok", or the kind of queue make_queue(3) returned
    stored: list | None  # whether each of four puts was stored
    full: bool | None  # q.full() after them
    got: list | None  # what the queue gave back


class UnboundedSeen(Seen):
    kinds: list  # for make_queue() and make_queue(0): "ok", or the kind returned
    stored: list  # how many items each stored


class PutAllSeen(Seen):
    count: object  # what put_all returned
    got: list  # what the queue gave back


class DrainFifoSeen(Seen):
    first: list  # drain(q, 3)
    rest: list  # the next drain


class DrainEmptySeen(Seen):
    raised: str | None  # "Empty" if drain raised queue.Empty
    got: list | None  # what it returned instead


class TryPutSeen(Seen):
    first: object  # try_put of a first item
    falsy: object  # try_put of a falsy item
    full: object  # try_put on the full queue
    waiting_call: str | None  # the call of that try_put that may wait (KitQueue.waiting_call)
    full_waiting: object  # try_put on the full queue with a timeout
    waited: float  # how long that one took
    got: list  # what the queue gave back


class TryGetSeen(Seen):
    empty_default: object  # try_get on an empty queue
    waiting_call: str | None  # the call of that try_get that may wait
    empty_custom: object  # try_get on an empty queue with a default
    got: list  # try_get of each item put
    after: object  # try_get with a timeout on the empty queue
    waited: float  # how long that one took


class LateItemsSeen(Seen):
    got: list | str  # what drain() or try_get() gave, or "raised queue.Empty"


BOUNDED = Scenario("bounded", says("make_queue(3)"), seen=BoundedSeen)
UNBOUNDED = Scenario("unbounded", says("make_queue()"), seen=UnboundedSeen)
PUT_ALL_ORDER = Scenario("put_all_order", says("put_all(q, items)"), seen=PutAllSeen)
PUT_ALL_WAITS = Scenario(
    "put_all_waits", says("put_all(Queue(2), items)"), seen=PutAllSeen,
    work=lambda items, consumer_delay, **_: max(WAIT, len(items) * consumer_delay), processes=lambda **_: 1)
DRAIN_FIFO = Scenario("drain_fifo", says("drain(q, 3)"), seen=DrainFifoSeen)
DRAIN_EMPTY = Scenario("drain_empty", lambda timeout, **_: words("ex01.drain-with-two-queued", timeout=timeout),
                       seen=DrainEmptySeen, work=lambda timeout, **_: timeout)
TRY_PUT = Scenario("try_put", says("try_put(q, item)"), seen=TryPutSeen, work=lambda **_: WAIT)
TRY_GET = Scenario("try_get", says("try_get(q)"), seen=TryGetSeen, work=lambda **_: WAIT)
# Each item comes `gap` after the get that asks for it: one gap per item, and one to spare.
LATE_ITEMS = Scenario("late_items", _late_action, seen=LateItemsSeen,
                      work=lambda items, gap, **_: (len(items) + 1) * gap, processes=lambda **_: 1)

# A call of the main process that waits for ever: here, in drain() or in try_put().
DIAGNOSIS = Diagnosis(keys={"get-waits-forever": "ex01.drain-waits-forever",
                            "put-waits-forever": "ex01.try-put-blocks"})
