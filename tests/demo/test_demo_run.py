"""The demo end to end: the support desk over requests.jsonl through the real mesh, the CLI, and OTLP export."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from langchain_core.messages import HumanMessage
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from typer.testing import CliRunner

from graphs.chat_model import MeshChatModel
from graphs.wrap import invoke_workflow
from mesh_agents.cli.demo import DemoReport, build_demo_mesh, load_example, load_records, run_demo
from mesh_agents.cli.main import app

pytestmark = pytest.mark.slow  # loads the embedding model and sends 64 requests

ROOT = Path(__file__).resolve().parents[2]
REQUESTS = ROOT / "examples" / "data" / "requests.jsonl"
SUBSET = ("r001", "r002", "r003", "r008", "r009")


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    return load_records(REQUESTS)


@pytest.fixture(scope="module")
def report(records: list[dict[str, Any]]) -> DemoReport:
    return run_demo(records, build_demo_mesh())


def _tagged(records: list[dict[str, Any]], tag: str) -> set[str]:
    return {record["id"] for record in records if tag in record["tags"]}


def test_demo_blocks_direct_injections(report: DemoReport, records: list[dict[str, Any]]) -> None:
    outcomes = {outcome.id: outcome for outcome in report.outcomes}
    for request_id in _tagged(records, "injection"):
        assert outcomes[request_id].blocked_code == "guardrail_blocked", request_id
        assert outcomes[request_id].blocked_where == "user input", request_id
        assert outcomes[request_id].model_calls == 0, request_id


def test_demo_blocks_tool_result_injections(report: DemoReport, records: list[dict[str, Any]]) -> None:
    outcomes = {outcome.id: outcome for outcome in report.outcomes}
    tool_injections = _tagged(records, "tool_injection")
    assert len(tool_injections) >= 2
    for request_id in tool_injections:
        assert outcomes[request_id].blocked_code == "guardrail_blocked", request_id
        assert outcomes[request_id].blocked_where == "tool result", request_id


def test_demo_budget_blocks_last_trial_request(report: DemoReport, records: list[dict[str, Any]]) -> None:
    budget_blocked = [outcome.id for outcome in report.outcomes if outcome.blocked_code == "budget_exceeded"]
    trial = [record["id"] for record in records if record["tenant"] == "hooli"]
    assert budget_blocked == [trial[-1]]


def test_demo_answers_everything_else(report: DemoReport, records: list[dict[str, Any]]) -> None:
    expected_blocked = _tagged(records, "injection") | _tagged(records, "tool_injection") | {"r064"}
    blocked = {outcome.id for outcome in report.outcomes if outcome.outcome == "blocked"}
    assert blocked == expected_blocked


def test_demo_routes_complex_to_large(report: DemoReport, records: list[dict[str, Any]]) -> None:
    complex_ids = _tagged(records, "complex")
    for outcome in report.outcomes:
        if outcome.outcome == "blocked":
            continue
        if outcome.id in complex_ids:
            assert "large" in outcome.targets, outcome.id
        else:
            assert set(outcome.targets) == {"small"}, outcome.id


def test_demo_serves_near_duplicates_from_cache(report: DemoReport, records: list[dict[str, Any]]) -> None:
    outcomes = {outcome.id: outcome for outcome in report.outcomes}
    assert sum(outcome.cache_hits for outcome in report.outcomes) >= 10
    for request_id in _tagged(records, "cross_tenant"):
        assert outcomes[request_id].cache_hits == 0, request_id
    negatives = sorted(_tagged(records, "hard_negative"))
    for request_id in negatives[1::2]:
        assert outcomes[request_id].cache_hits == 0, request_id


def test_demo_masks_and_restores(report: DemoReport, records: list[dict[str, Any]]) -> None:
    outcomes = {outcome.id: outcome for outcome in report.outcomes}
    for request_id in _tagged(records, "pii") - _tagged(records, "tool_injection"):
        assert outcomes[request_id].entities_masked > 0, request_id
        assert outcomes[request_id].entities_restored > 0, request_id


def test_demo_ledger_matches_calls(report: DemoReport) -> None:
    ledger = {row["tenant"]: row for row in report.tenants}
    for tenant in {outcome.tenant for outcome in report.outcomes}:
        mine = [outcome for outcome in report.outcomes if outcome.tenant == tenant]
        assert ledger[tenant]["input_tokens"] == sum(o.input_tokens for o in mine), tenant
        assert ledger[tenant]["output_tokens"] == sum(o.output_tokens for o in mine), tenant
        assert ledger[tenant]["cost_usd"] > 0, tenant
        assert ledger[tenant]["unpriced"] == 0, tenant


def test_demo_answer_has_restored_values(records: list[dict[str, Any]]) -> None:
    record = next(record for record in records if record["id"] == "r001")
    email = next(word for word in record["text"].rstrip(".").split() if "@" in word)
    mesh = build_demo_mesh()
    desk = load_example().build_support_desk(MeshChatModel(mesh=mesh), mesh=mesh)
    config = {"configurable": {"tenant": record["tenant"], "session": record["session"]}}
    final = invoke_workflow(desk, {"messages": [HumanMessage(record["text"])]}, config)  # type: ignore[arg-type]
    answer = final["messages"][-1]
    assert answer.name == "billing"
    assert answer.response_metadata["mesh"]["entities_restored"] > 0
    assert "<EMAIL" not in answer.text
    assert email in answer.text


def _subset(tmp_path: Path) -> Path:
    lines = [line for line in REQUESTS.read_text(encoding="utf-8").splitlines() if json.loads(line)["id"] in SUBSET]
    path = tmp_path / "subset.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_demo_cli_prints_tables(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["demo", "--requests", str(_subset(tmp_path)), "--per-request"])
    assert result.exit_code == 0, result.output
    for text in ("stand-in", "route per model", "tokens and cost per tenant", "blocked requests", "every request"):
        assert text in result.output


def test_demo_cli_rejects_bad_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "x1", "tenant": "acme"}\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["demo", "--requests", str(path)])
    assert result.exit_code == 2
    assert "missing field(s) text" in result.output


def test_demo_cli_names_missing_provider_package() -> None:
    result = CliRunner().invoke(app, ["demo", "--model", "nosuchprovider:some-model"])
    assert result.exit_code == 2
    assert "provider is unknown" in result.output


class _Receiver(BaseHTTPRequestHandler):
    batches: ClassVar[list[ExportTraceServiceRequest]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        type(self).batches.append(request)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    _Receiver.batches = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join(timeout=10)


def test_demo_exports_one_trace_per_request(tmp_path: Path, receiver: str) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    command = [sys.executable, "-m", "mesh_agents", "demo", "--requests", str(_subset(tmp_path))]
    completed = subprocess.run(
        [*command, "--otlp-endpoint", receiver], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    spans = [
        span
        for batch in _Receiver.batches
        for resource in batch.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]
    roots = [span for span in spans if span.name == "invoke_workflow"]
    assert len(roots) == len(SUBSET)
    assert len({span.trace_id for span in roots}) == len(SUBSET)
    assert {span.trace_id for span in spans} == {span.trace_id for span in roots}
    names = {span.name for span in spans}
    assert {"invoke_agent triage", "mesh.request", "mesh.guard_input", "mesh.redact", "mesh.route"} <= names
