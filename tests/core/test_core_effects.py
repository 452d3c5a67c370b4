"""The effect drivers run one generator core the same way sync and async."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Generator
from typing import Any

import pytest

from mesh_agents._effects import END_OF_STREAM, Call, CoreRun, Emit, NextChunk, Sleep, drive_async, drive_sync


def _adding_core(calls: list[str]) -> Generator[Any, Any, int]:
    first = yield Call(lambda a, b: a + b, (1, 2))
    yield Sleep(0)
    try:
        yield Call(_fail)
    except ValueError as exc:
        calls.append(str(exc))
    second = yield Call(lambda x: x * 10, (first,), afn=_async_times_ten)
    return second


def _fail() -> None:
    raise ValueError("boom")


async def _async_times_ten(x: int) -> int:
    return x * 100  # differs from the sync body so the test can see which ran


def test_drive_sync_returns_core_result() -> None:
    calls: list[str] = []
    assert drive_sync(_adding_core(calls)) == 30
    assert calls == ["boom"]


def test_drive_async_prefers_async_variant() -> None:
    calls: list[str] = []
    assert asyncio.run(drive_async(_adding_core(calls))) == 300
    assert calls == ["boom"]


def test_blocking_call_runs_in_worker_thread() -> None:
    import threading

    main = threading.get_ident()

    def core() -> Generator[Any, Any, bool]:
        ident = yield Call(threading.get_ident, blocking=True)
        return bool(ident != main)

    assert asyncio.run(drive_async(core())) is True
    assert drive_sync(core()) is False


def _streaming_core(source: Any) -> Generator[Any, Any, int]:
    count = 0
    while True:
        item = yield NextChunk(source)
        if item is END_OF_STREAM:
            return count
        count += 1
        yield Emit(item.upper())


def test_stream_sync_emits_and_keeps_result() -> None:
    run = CoreRun(_streaming_core(iter(["a", "b"])))
    assert list(run.sync()) == ["A", "B"]
    assert run.result == 2


def test_stream_async_reads_async_iterator() -> None:
    async def letters() -> AsyncIterator[str]:
        for letter in "xyz":
            yield letter

    async def collect() -> tuple[list[str], int]:
        run = CoreRun(_streaming_core(letters().__aiter__()))
        out = [chunk async for chunk in run.asynchronous()]
        return out, run.result

    assert asyncio.run(collect()) == (["X", "Y", "Z"], 3)


def test_drive_sync_rejects_emitting_core() -> None:
    with pytest.raises(TypeError, match="streaming"):
        drive_sync(_streaming_core(iter(["a"])))
