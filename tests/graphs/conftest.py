"""Span capture for the graph tests: an in-memory exporter on the SDK tracer provider."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

_EXPORTER = InMemorySpanExporter()
_INSTALLED = False


def _install() -> None:
    """Attach the exporter once per process, to the SDK provider another test set or to a new one."""
    global _INSTALLED
    if _INSTALLED:
        return
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
        provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider), "another library installed a non-SDK tracer provider"
    provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
    _INSTALLED = True


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """The exporter, emptied before and after the test."""
    _install()
    _EXPORTER.clear()
    yield _EXPORTER
    _EXPORTER.clear()
