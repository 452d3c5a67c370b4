"""``mesh-agents demo``: run the support-desk example over the demo requests and report what the mesh did.

The example workflow (``examples/support_desk.py``) is loaded from the repository
checkout next to this package; the requests default to ``examples/data/requests.jsonl``
and the mesh settings to ``examples/mesh.yaml``.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mesh_agents.cli._apps import app
from mesh_agents.errors import ConfigurationError, InvalidInputError, MeshError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from mesh_agents.mesh import Mesh
    from mesh_agents.routing.base import Target

__all__ = [
    "CallSummary",
    "DemoReport",
    "RequestOutcome",
    "build_demo_mesh",
    "check_tenants",
    "load_records",
    "render_report",
    "run_demo",
]

logger = logging.getLogger(__name__)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DEFAULT_REQUESTS = EXAMPLES / "data" / "requests.jsonl"
DEFAULT_CONFIG = EXAMPLES / "mesh.yaml"
STANDIN_TARGETS = {"small": "standin:small", "large": "standin:large"}
_REQUIRED_FIELDS = ("id", "tenant", "text")


@dataclass
class CallSummary:
    """One model call of a run, from its answer's ``response_metadata["mesh"]``."""

    target: str
    cache_hit: bool
    input_tokens: int
    output_tokens: int
    cost_usd: float | None


@dataclass
class RequestOutcome:
    """Outcome of one demo request, summed over the model calls its run made."""

    id: str
    tenant: str
    language: str
    agent: str | None = None
    outcome: str = "answered"
    blocked_code: str | None = None
    blocked_where: str | None = None
    blocked_reason: str | None = None
    calls: list[CallSummary] = field(default_factory=list)
    entities_masked: int = 0
    entities_restored: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    unpriced_calls: int = 0
    wall_s: float = 0.0

    @property
    def model_calls(self) -> int:
        return len(self.calls)

    @property
    def cache_hits(self) -> int:
        return sum(call.cache_hit for call in self.calls)

    @property
    def targets(self) -> list[str]:
        return [call.target for call in self.calls]


@dataclass
class DemoReport:
    """The demo run: one outcome per request, ledger totals per tenant, and the wall time (seconds)."""

    outcomes: list[RequestOutcome]
    tenants: list[dict[str, Any]]
    wall_s: float
    model: str
    standin: bool
    startup_s: float = 0.0


def load_records(path: Path) -> list[dict[str, Any]]:
    """Read the demo's JSON Lines request file.

    Raises:
        InvalidInputError: the file is missing, empty or not UTF-8, a line is not a JSON object,
            or a record lacks ``id``, ``tenant`` or ``text`` or has an invalid tenant id; the
            message names the line, never its text.
    """
    from mesh_agents.types import validate_identifier

    if not path.is_file():
        raise InvalidInputError(f"request file {str(path)!r} not found; pass --requests with a JSON Lines file")
    try:
        content = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(
            f"request file {str(path)!r} is not UTF-8 (bad byte at offset {exc.start}); save it as UTF-8"
        ) from exc
    records = []
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(
                f"{path.name} line {number}: invalid JSON ({exc.msg}); write one JSON object per line"
            ) from exc
        if not isinstance(record, dict):
            raise InvalidInputError(
                f"{path.name} line {number}: expected a JSON object, got {_json_kind(record)}; "
                "write one object with id, tenant and text per line (JSON Lines, not a JSON array)"
            )
        missing = [name for name in _REQUIRED_FIELDS if not record.get(name)]
        if missing:
            raise InvalidInputError(f"{path.name} line {number}: missing field(s) {', '.join(missing)}")
        wrong = [name for name in _REQUIRED_FIELDS if not isinstance(record[name], str)]
        if wrong:
            raise InvalidInputError(f"{path.name} line {number}: field(s) {', '.join(wrong)} must be strings")
        try:
            validate_identifier("tenant", record["tenant"])
        except ValueError as exc:
            raise InvalidInputError(f"{path.name} line {number}: {exc}") from exc
        records.append(record)
    if not records:
        raise InvalidInputError(
            f"request file {str(path)!r} has no requests; write one JSON object with id, tenant and text per line"
        )
    return records


def _json_kind(value: object) -> str:
    kinds = {list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return "null" if value is None else kinds.get(type(value), type(value).__name__)


def check_tenants(records: list[dict[str, Any]], mesh: Mesh, source: Path) -> None:
    """Fail before the run if a record names a tenant the settings do not know.

    Raises:
        InvalidInputError: the message names the record's id and the known tenants.
    """
    for record in records:
        try:
            mesh.settings.check_tenant(record["tenant"])
        except InvalidInputError as exc:
            raise InvalidInputError(
                f"{source.name}, request {str(record['id'])[:40]!r}: {exc.safe_message}", details=exc.details
            ) from exc


def load_example() -> ModuleType:
    """Import ``examples/support_desk.py`` from the checkout.

    Raises:
        ConfigurationError: the examples folder is not there (an installed wheel has none).
    """
    path = EXAMPLES / "support_desk.py"
    if not path.is_file():
        raise ConfigurationError(
            f"the demo workflow {str(path)!r} is missing; run the demo from a clone of the mesh-agents repository"
        )
    spec = importlib.util.spec_from_file_location("mesh_agents_example_support_desk", path)
    if spec is None or spec.loader is None:
        raise ConfigurationError(f"cannot import the demo workflow from {str(path)!r}")
    module = importlib.util.module_from_spec(spec)
    # LangGraph resolves the state's type hints through sys.modules, so register it first.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def build_targets(
    model: str, expensive_model: str | None, latency_ms: float, base_url: str | None = None
) -> dict[str, Target]:
    """Build the ``small`` and ``large`` targets from model strings (the stand-in by default)."""
    from mesh_agents.models import resolve_model
    from mesh_agents.routing.targets import target_from_model

    specs = {"small": model, "large": expensive_model or model}
    if model == "standin" and expensive_model is None:
        specs = dict(STANDIN_TARGETS)
    targets = {}
    for name, spec in specs.items():
        chat_model = resolve_model(
            spec, latency_ms=latency_ms, base_url=None if spec.startswith("standin") else base_url
        )
        provider, _, model_name = spec.partition(":")
        targets[name] = target_from_model(
            name,
            chat_model,
            provider=provider if model_name else None,
            model_name=f"standin-{name}" if provider == "standin" else model_name or spec,
            capabilities={"tools"},
            tags={"cheap"} if name == "small" else {"expensive"},
        )
    return targets


def build_demo_mesh(
    config: Path | None = None,
    *,
    model: str = "standin",
    expensive_model: str | None = None,
    latency_ms: float = 0.0,
    base_url: str | None = None,
) -> Mesh:
    """Build the demo's mesh: settings from ``config`` (default ``examples/mesh.yaml``), two targets.

    Raises:
        ConfigurationError: the settings file is missing or invalid, or a model cannot be built.
    """
    from mesh_agents.mesh import Mesh
    from mesh_agents.settings import load_settings

    settings = load_settings(config or DEFAULT_CONFIG)
    return Mesh(settings, targets=build_targets(model, expensive_model, latency_ms, base_url))


def run_demo(
    records: list[dict[str, Any]],
    mesh: Mesh,
    *,
    model: str = "standin",
    progress: Any = None,
) -> DemoReport:
    """Send every record through the support desk with the mesh around each model call."""
    from langchain_core.messages import HumanMessage

    from graphs.chat_model import MeshChatModel
    from graphs.wrap import invoke_workflow

    # Load the embedding model before the clock starts, so per-request times are steady state.
    started = time.perf_counter()
    mesh.vectorizer.embed(["warm-up"])
    startup_s = time.perf_counter() - started

    example = load_example()
    desk = example.build_support_desk(MeshChatModel(mesh=mesh), mesh=mesh)
    outcomes = []
    started = time.perf_counter()
    for record in records:
        config = {
            "configurable": {
                "tenant": record["tenant"],
                "user": record.get("user"),
                "session": record.get("session"),
                "thread_id": record.get("session") or record["id"],
            }
        }
        state = {"messages": [HumanMessage(record["text"])], "tool_result": record.get("tool_result")}
        request_started = time.perf_counter()
        final = invoke_workflow(desk, state, config, name="support-desk")  # type: ignore[arg-type]
        outcome = summarise(record, final)
        outcome.wall_s = time.perf_counter() - request_started
        outcomes.append(outcome)
        if progress is not None:
            progress()
    wall_s = time.perf_counter() - started
    tenants = mesh.usage.report(by="tenant")
    return DemoReport(
        outcomes=outcomes,
        tenants=tenants,
        wall_s=wall_s,
        model=model,
        standin=model == "standin",
        startup_s=startup_s,
    )


def summarise(record: dict[str, Any], final: dict[str, Any]) -> RequestOutcome:
    """Sum the ``response_metadata["mesh"]`` of every model call in a finished run."""
    from langchain_core.messages import AIMessage, ToolMessage

    from graphs.blocking import blocked_info

    outcome = RequestOutcome(
        id=str(record["id"]),
        tenant=str(record["tenant"]),
        language=str(record.get("language", "")),
        agent=final.get("handled_by"),
    )
    after_tool_result = False
    for message in final.get("messages", []):
        if isinstance(message, ToolMessage) and not message.name.startswith("transfer_to_"):  # type: ignore[union-attr]
            after_tool_result = True
        if not isinstance(message, AIMessage):
            continue
        info = blocked_info(message)
        if info is not None:
            outcome.outcome = "blocked"
            outcome.blocked_code = str(info.get("code"))
            outcome.blocked_where = _where(info, after_tool_result)
            outcome.blocked_reason = _reason(info)
            continue
        mesh = message.response_metadata.get("mesh")
        if not isinstance(mesh, dict):
            continue
        cost = mesh.get("cost_usd")
        call = CallSummary(
            target=str(mesh.get("target") or "unknown"),
            cache_hit=bool(mesh.get("cache_hit")),
            input_tokens=int(mesh.get("input_tokens") or 0),
            output_tokens=int(mesh.get("output_tokens") or 0),
            cost_usd=None if cost is None else float(cost),
        )
        outcome.calls.append(call)
        outcome.entities_masked += int(mesh.get("entities_masked") or 0)
        outcome.entities_restored += int(mesh.get("entities_restored") or 0)
        if not call.cache_hit:
            outcome.input_tokens += call.input_tokens
            outcome.output_tokens += call.output_tokens
            if call.cost_usd is None:
                outcome.unpriced_calls += 1
            else:
                outcome.cost_usd += call.cost_usd
    return outcome


def _where(info: dict[str, Any], after_tool_result: bool) -> str:
    if info.get("stage") == "model" or info.get("code") == "budget_exceeded":
        return "budget"
    if info.get("stage") == "guard_output":
        return "model output"
    return "tool result" if after_tool_result else "user input"


def _reason(info: dict[str, Any]) -> str:
    details = info.get("details") or {}
    for key in ("reason", "budget", "guardrail"):
        if details.get(key):
            return str(details[key])
    return str(info.get("code"))


def render_report(report: DemoReport, console: Console, *, per_request: bool = False) -> None:
    """Print the demo's tables: summary, routes, tenants, blocked requests, and optionally every request."""
    if report.standin:
        _print_standin_note(console)
    _print_summary(report, console)
    _print_routes(report.outcomes, console)
    _print_tenants(report, console)
    _print_blocked(report.outcomes, console)
    if per_request:
        _print_requests(report.outcomes, console)


def _table(title: str, columns: Sequence[str], *, numbers_from: int = 1) -> Table:
    """Return a table whose columns from ``numbers_from`` on are right-aligned numbers."""
    from rich.table import Table

    table = Table(title=title)
    for index, column in enumerate(columns):
        table.add_column(column, justify="right" if index >= numbers_from else "left")
    return table


def _print_standin_note(console: Console) -> None:
    from rich.panel import Panel

    console.print(
        Panel(
            "The model is a local [bold]stand-in[/bold] (mesh_agents.models.StandInChatModel): it replies from "
            "templates, deterministically, and counts tokens with the cl100k tokenizer. Every other step is the "
            "real mesh. Point the demo at a real model with [bold]--model openai:gpt-4o-mini[/bold] "
            "(OPENAI_API_KEY), [bold]--model ollama:llama3.1[/bold] (a running Ollama), or any OpenAI-compatible "
            "server: --model openai:<model> --base-url http://host:port/v1.",
            title="stand-in model",
        )
    )


def _print_summary(report: DemoReport, console: Console) -> None:
    outcomes = report.outcomes
    blocked = [o for o in outcomes if o.outcome == "blocked"]
    by_guardrail = [o for o in blocked if o.blocked_code == "guardrail_blocked"]
    by_budget = [o for o in blocked if o.blocked_code == "budget_exceeded"]
    in_tool_results = sum(o.blocked_where == "tool result" for o in by_guardrail)
    wall_ms = [o.wall_s * 1000 for o in outcomes]
    rows = [
        ("requests", str(len(outcomes))),
        ("answered", str(len(outcomes) - len(blocked))),
        ("blocked by a guardrail", str(len(by_guardrail))),
        ("  of which inside a tool result", str(in_tool_results)),
        ("blocked by a budget", str(len(by_budget))),
        ("blocked otherwise", str(len(blocked) - len(by_guardrail) - len(by_budget))),
        ("model calls through the mesh", str(sum(o.model_calls for o in outcomes))),
        ("  served from the semantic cache", str(sum(o.cache_hits for o in outcomes))),
        ("requests with a cache hit", str(sum(o.cache_hits > 0 for o in outcomes))),
        ("PII entities masked (summed over calls)", str(sum(o.entities_masked for o in outcomes))),
        ("PII placeholders restored in answers", str(sum(o.entities_restored for o in outcomes))),
        ("input tokens (model calls)", f"{sum(o.input_tokens for o in outcomes):,}"),
        ("output tokens (model calls)", f"{sum(o.output_tokens for o in outcomes):,}"),
        ("cost (USD)", f"{sum(o.cost_usd for o in outcomes):.6f}"),
        ("start-up: loading models (s)", f"{report.startup_s:.2f}"),
        ("wall time of the requests (s)", f"{report.wall_s:.2f}"),
    ]
    if wall_ms:
        rows.append(("per request p50 / max (ms)", f"{statistics.median(wall_ms):.1f} / {max(wall_ms):.1f}"))
    table = _table(f"mesh-agents demo: {len(outcomes)} requests, model {report.model}", ("measure", "value"))
    for row in rows:
        table.add_row(*row)
    console.print(table)


def _print_routes(outcomes: Sequence[RequestOutcome], console: Console) -> None:
    table = _table("route per model", ("target", "calls", "cache hits", "model calls", "in", "out", "USD"))
    for target in sorted({call.target for outcome in outcomes for call in outcome.calls}):
        calls = [call for outcome in outcomes for call in outcome.calls if call.target == target]
        fresh = [call for call in calls if not call.cache_hit]
        table.add_row(
            target,
            str(len(calls)),
            str(len(calls) - len(fresh)),
            str(len(fresh)),
            f"{sum(call.input_tokens for call in fresh):,}",
            f"{sum(call.output_tokens for call in fresh):,}",
            f"{sum(call.cost_usd or 0.0 for call in fresh):.6f}",
        )
    console.print(table)


def _print_tenants(report: DemoReport, console: Console) -> None:
    table = _table(
        "tokens and cost per tenant (usage ledger)", ("tenant", "requests", "blocked", "calls", "in", "out", "USD")
    )
    ledger = {row.get("tenant"): row for row in report.tenants}
    for tenant in sorted({o.tenant for o in report.outcomes}):
        mine = [o for o in report.outcomes if o.tenant == tenant]
        row = ledger.get(tenant, {})
        table.add_row(
            tenant,
            str(len(mine)),
            str(sum(o.outcome == "blocked" for o in mine)),
            str(row.get("calls", 0)),
            f"{int(row.get('input_tokens', 0)):,}",
            f"{int(row.get('output_tokens', 0)):,}",
            f"{float(row.get('cost_usd', 0.0)):.6f}",
        )
    console.print(table)


def _print_blocked(outcomes: Sequence[RequestOutcome], console: Console) -> None:
    blocked = [o for o in outcomes if o.outcome == "blocked"]
    if not blocked:
        return
    table = _table("blocked requests", ("request", "tenant", "blocked by", "where", "reason"), numbers_from=5)
    kinds = {"guardrail_blocked": "guardrail", "budget_exceeded": "budget", "redaction_blocked": "redaction"}
    for outcome in blocked:
        code = outcome.blocked_code or ""
        table.add_row(outcome.id, outcome.tenant, kinds.get(code, code), outcome.blocked_where, outcome.blocked_reason)
    console.print(table)


def _print_requests(outcomes: Sequence[RequestOutcome], console: Console) -> None:
    columns = ("request", "tenant", "agent", "outcome", "calls", "hits", "targets", "masked", "restored", "ms")
    table = _table("every request", columns, numbers_from=4)
    for o in outcomes:
        outcome = o.outcome if o.outcome != "blocked" else f"blocked: {o.blocked_where}"
        table.add_row(
            o.id,
            o.tenant,
            o.agent or "",
            outcome,
            str(o.model_calls),
            str(o.cache_hits),
            ",".join(o.targets),
            str(o.entities_masked),
            str(o.entities_restored),
            f"{o.wall_s * 1000:.0f}",
        )
    console.print(table)


@app.command("demo")
def demo(
    requests: Annotated[Path, typer.Option("--requests", help="JSON Lines file of demo requests.")] = DEFAULT_REQUESTS,
    model: Annotated[
        str, typer.Option("--model", help="Model of the 'small' target: 'standin' or '<provider>:<model>'.")
    ] = "standin",
    expensive_model: Annotated[
        str | None, typer.Option("--expensive-model", help="Model of the 'large' target; defaults to --model.")
    ] = None,
    latency_ms: Annotated[
        float, typer.Option("--latency-ms", min=0.0, help="Stand-in model delay per call, ms.")
    ] = 0.0,
    base_url: Annotated[
        str | None,
        typer.Option("--base-url", help="Base URL of an OpenAI-compatible or Ollama server, e.g. http://host:8000/v1."),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="Mesh settings file; default examples/mesh.yaml.")
    ] = None,
    otlp_endpoint: Annotated[
        str | None,
        typer.Option(
            "--otlp-endpoint",
            envvar="OTEL_EXPORTER_OTLP_ENDPOINT",
            help="OTLP/HTTP endpoint such as http://localhost:4318; each request is exported as one trace.",
        ),
    ] = None,
    per_request: Annotated[bool, typer.Option("--per-request", help="Also print one row per request.")] = False,
) -> None:
    """Run the multi-agent support desk over the demo requests and print what the mesh did."""

    try:
        _demo(requests, model, expensive_model, latency_ms, base_url, config, otlp_endpoint, per_request)
    except MeshError as exc:
        typer.echo(f"error: {exc.safe_message}", err=True)
        raise typer.Exit(2) from None
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except Exception as exc:
        # The message of an arbitrary exception may carry request text: log it, print only its type.
        logger.exception("mesh-agents demo failed")
        message = f"the demo failed unexpectedly ({type(exc).__name__}); the log above has the details"
        typer.echo(f"error: {message}", err=True)
        raise typer.Exit(1) from None


def _demo(
    requests: Path,
    model: str,
    expensive_model: str | None,
    latency_ms: float,
    base_url: str | None,
    config: Path | None,
    otlp_endpoint: str | None,
    per_request: bool,
) -> None:
    from rich.console import Console
    from rich.progress import Progress

    from mesh_agents import tracing

    console = Console()
    records = load_records(requests)
    mesh = build_demo_mesh(
        config, model=model, expensive_model=expensive_model, latency_ms=latency_ms, base_url=base_url
    )
    check_tenants(records, mesh, requests)
    exporting = tracing.setup("mesh-agents-demo", endpoint=otlp_endpoint) if otlp_endpoint else False
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("requests", total=len(records))
        report = run_demo(records, mesh, model=model, progress=lambda: progress.advance(task))
    render_report(report, console, per_request=per_request)
    if exporting:
        from opentelemetry import trace

        flush = getattr(trace.get_tracer_provider(), "force_flush", None)
        if flush is not None:
            flush()
        console.print(f"Exported one trace per request to {otlp_endpoint}.")
