"""How the coordinator of a search with workers talks to them: one interface, two kinds.

A :class:`Transport` holds ``size`` workers, each an object built in its own process by
a factory the engine provides (``factory(index, size)``). The coordinator sends every
worker one request at a time, ``(method name, *arguments)``, and collects the replies in
worker order. Model code raising inside a worker does not kill it: the worker answers
``("model_error", message)`` for a :class:`~klpcheck.base.errors.ModelError` and
``("error", state, message)`` for anything else, with the state it was working on, so
that the engine can diagnose the failure as one process would. A normal reply is
``("ok", value)``.

- :class:`LocalTransport`: forked processes and one pipe each. Forked workers inherit
  the model, so nothing of it is pickled.
- :mod:`klpcheck.search.ray_transport`: Ray actors, on this machine or on a cluster; the
  model is pickled once per worker.

The transport knows nothing of the search: what the requests mean is the engine's
business (:mod:`klpcheck.search.parallel`). What crosses it in the hash-only search is
small: hashes, parent references and step ids as ``array('Q')`` bytes, one flag per
hash, counters; states only when frontier shares are evened out between levels.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any, Protocol

from klpcheck.base.errors import ModelError, UsageError

__all__ = ["BACKENDS", "LocalTransport", "Transport", "WorkerDied", "serve"]

BACKENDS = ("local", "ray")

Factory = Callable[[int, int], Any]


class WorkerDied(ModelError):
    """A worker process or actor went away without answering."""


class Transport(Protocol):
    """``size`` workers, each answering one request at a time (see the module docstring)."""

    size: int
    name: str  # how the result's note describes the workers, e.g. "local processes"

    def call(self, requests: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """Send ``requests[i]`` to worker ``i``, all at once; their replies, in order."""

    def call_one(self, index: int, request: tuple[Any, ...]) -> tuple[Any, ...]:
        """Send one request to worker ``index`` alone; its reply."""

    def drain(self) -> None:
        """Wait for the replies an interrupted :meth:`call` left due, and drop them."""

    def close(self) -> None:
        """Stop every worker and free what it holds."""


def serve(worker: Any, request: tuple[Any, ...]) -> tuple[Any, ...]:
    """Run one request on ``worker``; the reply, with model failures as data."""
    name, *args = request
    try:
        return ("ok", getattr(worker, name)(*args))
    except ModelError as e:
        return ("model_error", str(e))
    except Exception as e:
        return ("error", getattr(worker, "current", None), f"{type(e).__name__}: {e}")


# -- local processes -------------------------------------------------------------------


def _loop(
    conn: Connection,
    factory: Factory,
    index: int,
    size: int,
    inherited: Sequence[Connection] = (),
) -> None:
    """A forked worker: build the worker object, answer requests until told to stop.

    ``inherited``: the coordinator's ends of the pipes, this worker's own among them,
    that the fork copied; closed at once, so that the coordinator's death (even by
    SIGKILL) closes the pipe and the worker's next read or write ends it.
    """
    for other in inherited:
        other.close()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the coordinator handles Ctrl-C
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # and SIGTERM (sent to the group)
    worker: Any = None
    failure: tuple[Any, ...] | None = None
    try:
        worker = factory(index, size)
    except Exception as e:
        failure = ("error", None, f"{type(e).__name__}: {e}")
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        if request[0] == "stop":
            return
        try:
            conn.send(failure if failure is not None else serve(worker, request))
        except OSError:  # the coordinator is gone
            return


class LocalTransport:
    """Workers in forked processes, one pipe each."""

    name = "local processes"

    def __init__(self, factory: Factory, size: int) -> None:
        if "fork" not in multiprocessing.get_all_start_methods():
            raise UsageError(
                "workers > 1 with the local backend needs the fork start method "
                "(Linux, macOS); use --backend ray elsewhere"
            )
        ctx = multiprocessing.get_context("fork")
        self.size = size
        self.conns: list[Connection] = []
        self.processes: list[Any] = []
        self.due: list[int] = []  # workers sent a request whose reply is not read yet
        for index in range(size):
            conn, child = ctx.Pipe()
            process = ctx.Process(
                target=_loop,
                args=(child, factory, index, size, [*self.conns, conn]),
                daemon=True,
            )
            process.start()
            child.close()
            self.conns.append(conn)
            self.processes.append(process)

    def _receive(self, index: int) -> tuple[Any, ...]:
        try:
            reply: tuple[Any, ...] = self.conns[index].recv()
        except EOFError:
            raise WorkerDied(
                f"worker process {index} died (killed, out of memory, or a state "
                "that cannot be pickled)"
            ) from None
        self.due.remove(index)
        return reply

    def call(self, requests: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        for conn, request in zip(self.conns, requests, strict=True):
            conn.send(request)
        self.due = list(range(self.size))
        return [self._receive(i) for i in range(self.size)]

    def call_one(self, index: int, request: tuple[Any, ...]) -> tuple[Any, ...]:
        self.conns[index].send(request)
        self.due = [index]
        return self._receive(index)

    def drain(self) -> None:
        for index in list(self.due):
            with contextlib.suppress(WorkerDied):
                self._receive(index)
        self.due = []

    def close(self) -> None:
        for conn in self.conns:
            with contextlib.suppress(OSError):
                conn.send(("stop",))
        for process in self.processes:
            process.join(timeout=1)
            if process.is_alive():
                process.kill()
                process.join()
        for conn in self.conns:
            conn.close()
