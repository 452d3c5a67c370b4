"""Drivers that run one generator-based pipeline core synchronously or asynchronously.

The pipeline is written once as a generator that yields *effects* (call a function,
sleep, open a model stream, emit a chunk) and receives their results. The sync
drivers perform effects inline; the async drivers await the async variant or run a
blocking function in a worker thread. This keeps ``invoke``/``ainvoke`` and
``stream``/``astream`` on one body of logic.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

__all__ = [
    "END_OF_STREAM",
    "Call",
    "CoreRun",
    "Emit",
    "NextChunk",
    "Sleep",
    "drive_async",
    "drive_sync",
]

T = TypeVar("T")

END_OF_STREAM = object()
"""Returned by ``NextChunk`` when the stream has no more chunks."""


@dataclass(frozen=True)
class Call:
    """Call ``fn(*args, **kwargs)``; the async drivers prefer ``afn`` with the same arguments.

    ``blocking`` marks CPU-heavy or I/O-bound sync functions that the async drivers
    run in a worker thread when there is no ``afn``. With ``timeout_s`` set, the call
    raises ``TimeoutError`` after that many seconds.
    """

    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    afn: Callable[..., Awaitable[Any]] | None = None
    blocking: bool = False
    timeout_s: float | None = None


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Emit:
    """Hand one chunk to the stream's consumer (streaming drivers only)."""

    chunk: Any


@dataclass(frozen=True)
class NextChunk:
    """Read the next item of a sync or async iterator; returns END_OF_STREAM at the end."""

    iterator: Any


Core = Generator[Any, Any, T]


_timeout_pool: concurrent.futures.ThreadPoolExecutor | None = None
_timeout_pool_lock = threading.Lock()


def _call_with_timeout(effect: Call) -> Any:
    global _timeout_pool
    with _timeout_pool_lock:
        if _timeout_pool is None:
            _timeout_pool = concurrent.futures.ThreadPoolExecutor(thread_name_prefix="mesh-timeout")
    future = _timeout_pool.submit(effect.fn, *effect.args, **effect.kwargs)
    try:
        return future.result(timeout=effect.timeout_s)
    except concurrent.futures.TimeoutError:
        # NOTE: a sync call cannot be interrupted; it finishes in the worker thread and
        # its result is dropped. Give models their own client timeout to free the thread.
        future.cancel()
        raise TimeoutError(f"call timed out after {effect.timeout_s} s") from None


def _run_sync(effect: Any) -> Any:
    if isinstance(effect, Call):
        if effect.timeout_s is not None:
            return _call_with_timeout(effect)
        return effect.fn(*effect.args, **effect.kwargs)
    if isinstance(effect, Sleep):
        time.sleep(effect.seconds)
        return None
    if isinstance(effect, NextChunk):
        return next(effect.iterator, END_OF_STREAM)
    raise TypeError(f"unknown pipeline effect {type(effect).__name__}")


async def _run_async(effect: Any) -> Any:
    if isinstance(effect, Call):
        if effect.afn is not None:
            awaitable = effect.afn(*effect.args, **effect.kwargs)
        elif effect.blocking:
            awaitable = asyncio.to_thread(effect.fn, *effect.args, **effect.kwargs)
        else:
            return effect.fn(*effect.args, **effect.kwargs)
        if effect.timeout_s is None:
            return await awaitable
        try:
            return await asyncio.wait_for(awaitable, effect.timeout_s)
        except TimeoutError:
            raise TimeoutError(f"call timed out after {effect.timeout_s} s") from None
    if isinstance(effect, Sleep):
        await asyncio.sleep(effect.seconds)
        return None
    if isinstance(effect, NextChunk):
        iterator = effect.iterator
        if hasattr(iterator, "__anext__"):
            try:
                return await iterator.__anext__()
            except StopAsyncIteration:
                return END_OF_STREAM
        return next(iterator, END_OF_STREAM)
    raise TypeError(f"unknown pipeline effect {type(effect).__name__}")


def drive_sync(core: Core[T]) -> T:
    """Run a core that emits nothing, synchronously, and return its result."""
    run = CoreRun(core)
    for _ in run.sync():
        raise TypeError("drive_sync got a chunk; use CoreRun.sync() for streaming cores")
    return run.result


async def drive_async(core: Core[T]) -> T:
    """Run a core that emits nothing, asynchronously, and return its result."""
    run = CoreRun(core)
    async for _ in run.asynchronous():
        raise TypeError("drive_async got a chunk; use CoreRun.asynchronous() for streaming cores")
    return run.result


class CoreRun:
    """One run of a core; iterate ``sync()`` or ``asynchronous()`` for the emitted chunks.

    After the iteration ends, ``result`` is the core's return value.
    """

    def __init__(self, core: Core[Any]) -> None:
        self._core = core
        self.result: Any = None

    def _step(self, send: Any, error: BaseException | None) -> tuple[bool, Any]:
        try:
            effect = self._core.throw(error) if error is not None else self._core.send(send)
        except StopIteration as stop:
            self.result = stop.value
            return True, None
        return False, effect

    def sync(self) -> Iterator[Any]:
        send: Any = None
        error: BaseException | None = None
        while True:
            done, effect = self._step(send, error)
            if done:
                return
            send, error = None, None
            if isinstance(effect, Emit):
                yield effect.chunk
                continue
            try:
                send = _run_sync(effect)
            except Exception as exc:  # handed back to the core, which decides what to do
                error = exc

    async def asynchronous(self) -> AsyncIterator[Any]:
        send: Any = None
        error: BaseException | None = None
        while True:
            done, effect = self._step(send, error)
            if done:
                return
            send, error = None, None
            if isinstance(effect, Emit):
                yield effect.chunk
                continue
            try:
                send = await _run_async(effect)
            except Exception as exc:  # handed back to the core, which decides what to do
                error = exc
