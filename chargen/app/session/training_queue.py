"""One training at a time per server: :class:`TrainingQueue` holds the line, :func:`queued_stream` waits in it
and tells the waiting run its place."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any


class TrainingQueue:
    """One training at a time per server; the others wait in order and can read their place."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._tickets: deque[object] = deque()  # the first holds the trainer

    def join(self) -> object:
        """Take a place at the end of the line; returns the ticket."""
        ticket = object()
        with self._condition:
            self._tickets.append(ticket)
        return ticket

    def place(self, ticket: object) -> int:
        """0 while ``ticket`` trains, else how many are ahead of it (1 = next)."""
        with self._condition:
            return self._tickets.index(ticket) if ticket in self._tickets else -1

    def wait(self, ticket: object, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for ``ticket``'s turn; True when it is."""
        with self._condition:
            return self._condition.wait_for(lambda: self._tickets and self._tickets[0] is ticket, timeout)

    def leave(self, ticket: object) -> None:
        """Give up the place (or the turn) of ``ticket``."""
        with self._condition:
            if ticket in self._tickets:
                self._tickets.remove(ticket)
            self._condition.notify_all()

    def __len__(self) -> int:
        with self._condition:
            return len(self._tickets)


def queued_stream(
    training_queue: TrainingQueue,
    runs: Callable[[], Iterator[dict[str, Any]]],
    stop: threading.Event | None = None,
    poll: float = 1.0,
) -> Iterator[dict[str, Any]]:
    """Wait for this server's training slot, yielding ``{"kind": "queued", "place": n}``, then run ``runs()``."""
    ticket = training_queue.join()
    try:
        while not training_queue.wait(ticket, poll):
            if stop is not None and stop.is_set():
                return
            yield {"kind": "queued", "place": training_queue.place(ticket)}
        yield from runs()
    finally:
        training_queue.leave(ticket)


__all__ = ["TrainingQueue", "queued_stream"]
