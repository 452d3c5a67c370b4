"""A small OTLP/HTTP receiver for tests: accepts spans, metrics and logs and decodes them.

It listens on 127.0.0.1 (a free port by default) and accepts ``POST /v1/traces``,
``/v1/metrics`` and ``/v1/logs`` in binary protobuf or JSON, gzip or not, the way an
OpenTelemetry Collector does. What arrives is decoded with ``opentelemetry-proto`` into
plain dataclasses that tests can assert on. Waits are bounded and wake on arrival::

    with OTLPReceiver() as receiver:
        os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
        ...
        spans = receiver.wait_for_spans(lambda spans: any(s.name == "chat m" for s in spans), timeout_s=10)
"""

from __future__ import annotations

import gzip
import http.server
import logging
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

__all__ = ["OTLPReceiver", "ReceivedLog", "ReceivedMetric", "ReceivedSpan", "decode_any_value", "shared_receiver"]

logger = logging.getLogger(__name__)

_SPAN_KINDS = {0: "UNSPECIFIED", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}
_STATUS_CODES = {0: "UNSET", 1: "OK", 2: "ERROR"}
_MAX_BODY_BYTES = 64 * 1024 * 1024

T = TypeVar("T")


@dataclass(frozen=True)
class ReceivedSpan:
    """One span as the receiver decoded it; ids are lower-case hex, ``parent_span_id`` empty for a root."""

    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: str
    attributes: dict[str, Any]
    events: list[tuple[str, dict[str, Any]]]
    status_code: str
    status_message: str
    start_time_ns: int
    end_time_ns: int
    scope: str
    resource: dict[str, Any]

    @property
    def service_name(self) -> str | None:
        value = self.resource.get("service.name")
        return value if isinstance(value, str) else None


@dataclass(frozen=True)
class ReceivedMetric:
    """One metric with its data points; each point is a dict of its fields plus ``attributes``."""

    name: str
    unit: str
    kind: str
    points: list[dict[str, Any]]
    scope: str
    resource: dict[str, Any]


@dataclass(frozen=True)
class ReceivedLog:
    """One log record."""

    body: Any
    severity_text: str
    attributes: dict[str, Any]
    trace_id: str
    span_id: str
    scope: str
    resource: dict[str, Any]


@dataclass
class _Store:
    spans: list[ReceivedSpan] = field(default_factory=list)
    metrics: list[ReceivedMetric] = field(default_factory=list)
    logs: list[ReceivedLog] = field(default_factory=list)
    requests: int = 0
    rejected: int = 0


def decode_any_value(value: Any) -> Any:
    """Turn an OTLP ``AnyValue`` into the Python value it holds."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [decode_any_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {item.key: decode_any_value(item.value) for item in value.kvlist_value.values}
    return getattr(value, kind)


def _attributes(items: Any) -> dict[str, Any]:
    return {item.key: decode_any_value(item.value) for item in items}


class OTLPReceiver:
    """An OTLP/HTTP endpoint on 127.0.0.1 that keeps everything it receives in memory.

    Args:
        port: Port to listen on; 0 picks a free one.
    """

    def __init__(self, port: int = 0) -> None:
        self._requested_port = port
        self._store = _Store()
        self._changed = threading.Condition()
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # Life cycle.

    def start(self) -> OTLPReceiver:
        """Bind the port and serve in a daemon thread; returns once the socket accepts connections."""
        if self._server is not None:
            return self
        handler = _handler_for(self)
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", self._requested_port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="otlp-receiver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> OTLPReceiver:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the OTLP receiver is not running; call start() first")
        return int(self._server.server_address[1])

    @property
    def endpoint(self) -> str:
        """Base URL for ``OTEL_EXPORTER_OTLP_ENDPOINT`` (the exporters append ``/v1/traces`` and so on)."""
        return f"http://127.0.0.1:{self.port}"

    # What arrived.

    def spans(self) -> list[ReceivedSpan]:
        with self._changed:
            return list(self._store.spans)

    def metrics(self) -> list[ReceivedMetric]:
        with self._changed:
            return list(self._store.metrics)

    def logs(self) -> list[ReceivedLog]:
        with self._changed:
            return list(self._store.logs)

    @property
    def rejected_requests(self) -> int:
        """Requests that could not be decoded (rejected with HTTP 400)."""
        with self._changed:
            return self._store.rejected

    def clear(self) -> None:
        """Forget everything received so far."""
        with self._changed:
            self._store = _Store()

    def wait_for_spans(
        self, predicate: Callable[[list[ReceivedSpan]], bool], *, timeout_s: float = 10.0
    ) -> list[ReceivedSpan]:
        """Block until ``predicate(spans)`` is true and return the spans.

        Raises:
            TimeoutError: the predicate was still false after ``timeout_s`` seconds; the
                message lists the span names received.
        """
        return self._wait(self.spans, predicate, timeout_s, lambda spans: sorted({s.name for s in spans}))

    def wait_for_metrics(
        self, predicate: Callable[[list[ReceivedMetric]], bool], *, timeout_s: float = 10.0
    ) -> list[ReceivedMetric]:
        """Block until ``predicate(metrics)`` is true and return the metrics (raises TimeoutError)."""
        return self._wait(self.metrics, predicate, timeout_s, lambda items: sorted({m.name for m in items}))

    def _wait(
        self,
        read: Callable[[], list[T]],
        predicate: Callable[[list[T]], bool],
        timeout_s: float,
        describe: Callable[[list[T]], Any],
    ) -> list[T]:
        with self._changed:
            matched = self._changed.wait_for(lambda: predicate(read()), timeout=timeout_s)
        items = read()
        if not matched:
            raise TimeoutError(f"OTLP receiver: condition not met after {timeout_s} s; received {describe(items)}")
        return items

    # Decoding, called from the handler threads.

    def _accept(self, path: str, body: bytes, content_type: str) -> bytes:
        if path == "/v1/traces":
            from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as service

            request: Any = _parse(service.ExportTraceServiceRequest(), body, content_type)
            spans = list(_decode_spans(request))
            with self._changed:
                self._store.spans.extend(spans)
                self._store.requests += 1
                self._changed.notify_all()
            response: Any = service.ExportTraceServiceResponse()
        elif path == "/v1/metrics":
            from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as metrics_service

            request = _parse(metrics_service.ExportMetricsServiceRequest(), body, content_type)
            metrics = list(_decode_metrics(request))
            with self._changed:
                self._store.metrics.extend(metrics)
                self._store.requests += 1
                self._changed.notify_all()
            response = metrics_service.ExportMetricsServiceResponse()
        elif path == "/v1/logs":
            from opentelemetry.proto.collector.logs.v1 import logs_service_pb2 as logs_service

            request = _parse(logs_service.ExportLogsServiceRequest(), body, content_type)
            logs = list(_decode_logs(request))
            with self._changed:
                self._store.logs.extend(logs)
                self._store.requests += 1
                self._changed.notify_all()
            response = logs_service.ExportLogsServiceResponse()
        else:
            raise LookupError(path)
        if "json" in content_type:
            from google.protobuf import json_format

            return json_format.MessageToJson(response).encode()
        return bytes(response.SerializeToString())

    def _reject(self) -> None:
        with self._changed:
            self._store.rejected += 1
            self._changed.notify_all()


def _parse(message: Any, body: bytes, content_type: str) -> Any:
    if "json" in content_type:
        from google.protobuf import json_format

        return json_format.Parse(body.decode("utf-8"), message)
    message.ParseFromString(body)
    return message


def _decode_spans(request: Any) -> Iterator[ReceivedSpan]:
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                yield ReceivedSpan(
                    name=span.name,
                    trace_id=span.trace_id.hex(),
                    span_id=span.span_id.hex(),
                    parent_span_id=span.parent_span_id.hex(),
                    kind=_SPAN_KINDS.get(span.kind, str(span.kind)),
                    attributes=_attributes(span.attributes),
                    events=[(event.name, _attributes(event.attributes)) for event in span.events],
                    status_code=_STATUS_CODES.get(span.status.code, str(span.status.code)),
                    status_message=span.status.message,
                    start_time_ns=span.start_time_unix_nano,
                    end_time_ns=span.end_time_unix_nano,
                    scope=scope_spans.scope.name,
                    resource=resource,
                )


def _decode_metrics(request: Any) -> Iterator[ReceivedMetric]:
    for resource_metrics in request.resource_metrics:
        resource = _attributes(resource_metrics.resource.attributes)
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                kind = metric.WhichOneof("data") or ""
                data = getattr(metric, kind) if kind else None
                points = [_decode_point(point) for point in data.data_points] if data is not None else []
                yield ReceivedMetric(
                    name=metric.name,
                    unit=metric.unit,
                    kind=kind,
                    points=points,
                    scope=scope_metrics.scope.name,
                    resource=resource,
                )


def _decode_point(point: Any) -> dict[str, Any]:
    decoded: dict[str, Any] = {"attributes": _attributes(point.attributes)}
    for name in ("as_int", "as_double", "count", "sum", "min", "max"):
        if point.DESCRIPTOR.fields_by_name.get(name) is not None:
            if name in ("as_int", "as_double") and point.WhichOneof("value") != name:
                continue
            decoded[name] = getattr(point, name)
    if point.DESCRIPTOR.fields_by_name.get("bucket_counts") is not None:
        decoded["bucket_counts"] = list(point.bucket_counts)
        decoded["explicit_bounds"] = list(point.explicit_bounds)
    return decoded


def _decode_logs(request: Any) -> Iterator[ReceivedLog]:
    for resource_logs in request.resource_logs:
        resource = _attributes(resource_logs.resource.attributes)
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                yield ReceivedLog(
                    body=decode_any_value(record.body),
                    severity_text=record.severity_text,
                    attributes=_attributes(record.attributes),
                    trace_id=record.trace_id.hex(),
                    span_id=record.span_id.hex(),
                    scope=scope_logs.scope.name,
                    resource=resource,
                )


def _handler_for(receiver: OTLPReceiver) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > _MAX_BODY_BYTES:
                self._reply(413, b"payload too large")
                return
            body = self.rfile.read(length)
            encoding = (self.headers.get("Content-Encoding") or "").lower()
            content_type = (self.headers.get("Content-Type") or "application/x-protobuf").lower()
            try:
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                payload = receiver._accept(self.path, body, content_type)
            except LookupError:
                self._reply(404, b"unknown OTLP path")
                return
            except Exception:
                logger.exception("OTLP receiver could not decode a request to %s", self.path)
                receiver._reject()
                self._reply(400, b"invalid OTLP payload")
                return
            self._reply(200, payload, "application/json" if "json" in content_type else "application/x-protobuf")

        def _reply(self, status: int, payload: bytes, content_type: str = "text/plain") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug("OTLP receiver: " + format, *args)

    return Handler


_shared_lock = threading.Lock()
_shared: tuple[OTLPReceiver, Any] | None = None


def shared_receiver(service_name: str = "mesh-agents-tests") -> tuple[OTLPReceiver, Any]:
    """Return this process's receiver and the ``Telemetry`` that exports to it, starting both once.

    OpenTelemetry allows one global tracer provider per process, so tests that need
    spans from the global provider share this one receiver and tell their spans apart
    by trace id. Call ``telemetry.force_flush()`` before waiting for in-process spans,
    because the batch processor otherwise waits up to five seconds.
    """
    global _shared
    with _shared_lock:
        if _shared is None:
            from mesh_agents.tracing import setup

            receiver = OTLPReceiver().start()
            telemetry = setup(service_name, endpoint=receiver.endpoint, protocol="http/protobuf")
            _shared = (receiver, telemetry)
    return _shared
