"""fasrnet/prefetch.py: work on a background thread, ahead of its consumer or behind its producer; order kept,
errors raised on the calling thread, threads stopped."""

import threading
import time

import pytest

from fasrnet.prefetch import Behind, ahead


def _threads(name):
    return [t for t in threading.enumerate() if t.name == name and t.is_alive()]


def test_ahead_yields_every_item_in_order_produced_on_another_thread():
    seen = []

    def items():
        for k in range(20):
            seen.append(threading.current_thread().name)
            yield k

    assert list(ahead(items(), depth=3, name="t-order")) == list(range(20))
    assert set(seen) == {"t-order"}
    assert not _threads("t-order")


def test_ahead_raises_the_producers_error_in_place_of_its_item():
    def items():
        yield 1
        yield 2
        raise ValueError("bad item 3")

    got = []
    with pytest.raises(ValueError, match="bad item 3"):
        for x in ahead(items(), name="t-error"):
            got.append(x)
    assert got == [1, 2]
    assert not _threads("t-error")


def test_ahead_stops_its_thread_when_the_consumer_leaves_early():
    produced = []

    def items():
        for k in range(1000):
            produced.append(k)
            yield k

    gen = ahead(items(), depth=2, name="t-early")
    assert next(gen) == 0
    gen.close()
    assert not _threads("t-early")
    assert len(produced) < 10  # at most depth items ahead, not the whole source


def test_behind_does_the_work_in_order_and_exit_waits_for_it():
    done = []

    def work(x):
        time.sleep(0.01)
        done.append((x, threading.current_thread().name))

    with Behind(work, depth=1, name="t-behind") as behind:
        for k in range(5):
            behind.put(k)
    assert [x for x, _ in done] == list(range(5))
    assert {n for _, n in done} == {"t-behind"}


def test_behind_raises_the_workers_error_at_the_next_put_or_at_exit():
    def work(x):
        if x == 2:
            raise OSError("disk full at 2")

    with pytest.raises(OSError, match="disk full at 2"):
        with Behind(work, depth=1) as behind:
            for k in range(100):
                behind.put(k)
                time.sleep(0.005)
    with pytest.raises(OSError, match="disk full at 2"):
        with Behind(work, depth=4) as behind:
            for k in range(3):  # the last item fails after the producer is done: exit raises it
                behind.put(k)


def test_behind_after_a_producer_error_drops_the_waiting_work_and_keeps_that_error():
    done = []
    with pytest.raises(KeyError):
        with Behind(lambda x: (time.sleep(0.05), done.append(x)), depth=5) as behind:
            for k in range(5):
                behind.put(k)
            raise KeyError("producer failed")
    assert len(done) < 5
