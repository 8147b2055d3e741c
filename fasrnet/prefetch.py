"""Work handed to a background thread, one item ahead or a few (docs/gpu.md, "The data path").

:func:`ahead` runs an iterator on a background thread, at most ``depth`` items ahead of its consumer: reading the
next batch's rows from the memory-mapped stores while the device computes on the current one (head training's
streamed batches, prediction). :class:`Behind` is the other direction: a consumer thread that takes finished work
(a feature shard to write to disk) so the producer goes on. Either way an error on the background thread is raised
on the calling thread, at the item it concerns (or at the latest when the work ends), never lost.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")

_END = object()


class _Failure:
    def __init__(self, exc: BaseException):
        self.exc = exc


def _put(q: queue.Queue[Any], item: Any, stop: threading.Event) -> bool:
    """Put ``item`` unless ``stop`` is set first; whether it was put."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def ahead(items: Iterable[T], depth: int = 2, name: str = "fasrnet-prefetch") -> Iterator[T]:
    """``items`` in order, produced by a background thread up to ``depth`` items ahead. An exception raised while
    producing an item is raised here in its place; closing the generator early stops the thread."""
    q: queue.Queue[Any] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if not _put(q, item, stop):
                    return
        except BaseException as exc:  # noqa: BLE001  # handed to the consumer, which raises it
            _put(q, _Failure(exc), stop)
            return
        _put(q, _END, stop)

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item
    finally:
        stop.set()
        thread.join()


class Behind(Generic[T]):
    """A background thread that calls ``work(item)`` on every item :meth:`put` hands it, in order, with at most
    ``depth`` items waiting. Use as a context manager: leaving it waits for the work handed so far (after an error
    in the ``with`` block, only for the item in progress) and raises the first error the thread met, if any;
    :meth:`put` raises it too, so the producer stops at once."""

    def __init__(self, work: Callable[[T], Any], depth: int = 1, name: str = "fasrnet-behind"):
        self._work = work
        self._q: queue.Queue[Any] = queue.Queue(maxsize=max(1, depth))
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._consume, name=name, daemon=True)

    def _consume(self) -> None:
        while True:
            item = self._q.get()
            if item is _END or self._stop.is_set():
                return
            try:
                self._work(item)
            except BaseException as exc:  # noqa: BLE001  # raised on the producer's thread
                self._error = exc
                return

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def put(self, item: T) -> None:
        """Hand ``item`` to the thread (waits while ``depth`` items are waiting); raises the thread's error."""
        while True:
            self._raise()
            if not self._thread.is_alive():
                raise RuntimeError("the background worker has stopped")
            try:
                self._q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def __enter__(self) -> Behind[T]:
        self._thread.start()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self._stop.set()  # the producer failed: finish the item in progress, drop the rest
        while self._thread.is_alive():
            try:
                self._q.put(_END, timeout=0.1)
                break
            except queue.Full:
                if self._stop.is_set():
                    with contextlib.suppress(queue.Empty):
                        self._q.get_nowait()
        self._thread.join()
        if exc_type is None:
            self._raise()

