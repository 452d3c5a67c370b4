"""The mesh as a LangChain chat model, so any agent's model calls pass through it.

An agent built on ``MeshChatModel`` (a LangGraph node, ``create_agent``, a chain)
gets every step of the mesh on every call: guardrails on user text and tool results,
redaction and restore, the semantic cache, routing with fallbacks, and budgets. The
tenant, user, session and agent come from the model's fields or, per call, from the
run's ``config["configurable"]`` (see ``graphs.context``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, Field, PrivateAttr

from graphs.builder import MeshGraph, arun_mesh_graph, build_mesh_graph, result_from_state, run_mesh_graph
from graphs.context import identity_from_config
from mesh_agents.errors import InvalidInputError
from mesh_agents.types import CacheControl, MeshRequest, MeshResult, ModelParams

if TYPE_CHECKING:
    from mesh_agents.mesh import Mesh

__all__ = ["MeshChatModel", "mesh_metadata"]

_PARAM_NAMES = ("temperature", "max_tokens", "top_p", "response_format", "tool_choice")


def mesh_metadata(result: MeshResult) -> dict[str, Any]:
    """Summarise a mesh result for ``response_metadata["mesh"]``: ids, counts and costs, no text."""
    usage = result.details.get("usage")
    route = result.details.get("route")
    summary: dict[str, Any] = {
        "target": result.target,
        "cache_hit": result.cache_hit,
        "entities_masked": result.entities_masked,
        "entities_restored": result.entities_restored,
        "route": route.route if route is not None else None,
        "attempts": result.details.get("attempts", 0),
    }
    if usage is not None:
        summary.update(
            input_tokens=usage.usage.input_tokens,
            output_tokens=usage.usage.output_tokens,
            cache_read_tokens=usage.usage.cache_read_tokens,
            cost_usd=usage.cost_usd,
            usage_estimated=usage.usage.estimated,
        )
    return summary


class MeshChatModel(BaseChatModel):
    """A chat model whose every call runs through a ``Mesh``.

    Args:
        mesh: The mesh to use; its router picks the target unless ``model`` pins one.
        tenant, user, session, agent: Defaults for requests; ``config["configurable"]``
            of the call overrides them per run.
        model: Target name to pin; None lets the router choose.
        use_graph: Run non-streaming calls through the compiled mesh graph (one node per
            step) rather than ``Mesh.invoke``. Both run the same steps; streaming always
            uses ``Mesh.stream``.
        cache_control: Cache behaviour of every request.

    Raises (from ``invoke`` and friends):
        GuardrailBlocked, RedactionBlocked, BudgetExceeded: a policy stopped the call.
        TargetsExhausted: every target failed.

    The answer's ``response_metadata["mesh"]`` records the target, the cache hit, the
    entity counts, the tokens and the cost of the call.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    mesh: Any = Field(exclude=True)
    tenant: str | None = None
    user: str | None = None
    session: str | None = None
    agent: str | None = None
    model: str | None = None
    use_graph: bool = True
    cache_control: CacheControl = CacheControl.DEFAULT
    _graph: MeshGraph | None = PrivateAttr(default=None)

    @property
    def _llm_type(self) -> str:
        return "mesh"

    @property
    def graph(self) -> MeshGraph:
        """The compiled mesh graph, built on first use."""
        if self._graph is None:
            self._graph = build_mesh_graph(self._mesh)
        return self._graph

    @property
    def _mesh(self) -> Mesh:
        mesh: Mesh = self.mesh
        return mesh

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools; they and ``tool_choice`` travel in the request, so the cache scope and the router see them."""
        formatted = [convert_to_openai_tool(tool) for tool in tools]
        if tool_choice is not None:
            kwargs["tool_choice"] = tool_choice
        return super().bind(tools=formatted, **kwargs)

    # The config of a call reaches _generate only through a context variable that
    # LangGraph sets for its nodes; a direct model.invoke(..., config=...) is caught here.

    def invoke(self, input: LanguageModelInput, config: RunnableConfig | None = None, **kwargs: Any) -> AIMessage:
        with _call_config(config):
            return super().invoke(input, config, **kwargs)

    async def ainvoke(
        self, input: LanguageModelInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AIMessage:
        with _call_config(config):
            return await super().ainvoke(input, config, **kwargs)

    def stream(
        self, input: LanguageModelInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[AIMessageChunk]:
        with _call_config(config):
            yield from super().stream(input, config, **kwargs)

    async def astream(
        self, input: LanguageModelInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[AIMessageChunk]:
        with _call_config(config):
            async for chunk in super().astream(input, config, **kwargs):
                yield chunk

    def request_for(self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]) -> MeshRequest:
        """Build the mesh request for one call from the fields, the run's config and the call's arguments."""
        identity = identity_from_config(_CALL_CONFIG.get())
        tenant = identity.get("tenant") or self.tenant
        if not tenant:
            raise InvalidInputError(
                "no tenant for the mesh request; set MeshChatModel(tenant=...) or pass "
                "config={'configurable': {'tenant': ...}}"
            )
        params: dict[str, Any] = {name: kwargs[name] for name in _PARAM_NAMES if kwargs.get(name) is not None}
        if stop:
            params["stop"] = stop
        if kwargs.get("tools"):
            params["tools"] = list(kwargs["tools"])
        return MeshRequest(
            messages=list(messages),
            tenant=tenant,
            user=identity.get("user") or self.user,
            session=identity.get("session") or self.session,
            run_id=identity.get("run_id"),
            agent=identity.get("agent") or self.agent,
            model=self.model,
            params=ModelParams(**params),
            cache_control=self.cache_control,
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        request = self.request_for(messages, stop, kwargs)
        if self.use_graph:
            result = result_from_state(run_mesh_graph(self.graph, request))
        else:
            result = self._mesh.invoke(request)
        return _chat_result(result)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        request = self.request_for(messages, stop, kwargs)
        if self.use_graph:
            result = result_from_state(await arun_mesh_graph(self.graph, request))
        else:
            result = await self._mesh.ainvoke(request)
        return _chat_result(result)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        request = self.request_for(messages, stop, kwargs)
        for chunk in self._mesh.stream(request):
            if run_manager is not None and isinstance(chunk.content, str):
                run_manager.on_llm_new_token(chunk.content)
            yield ChatGenerationChunk(message=chunk)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        request = self.request_for(messages, stop, kwargs)
        async for chunk in self._mesh.astream(request):
            if run_manager is not None and isinstance(chunk.content, str):
                await run_manager.on_llm_new_token(chunk.content)
            yield ChatGenerationChunk(message=chunk)


_CALL_CONFIG: ContextVar[RunnableConfig | None] = ContextVar("mesh_chat_model_call_config", default=None)


@contextmanager
def _call_config(config: RunnableConfig | None) -> Iterator[None]:
    """Make ``config`` visible to ``request_for`` for the duration of one call."""
    previous = _CALL_CONFIG.get()
    _CALL_CONFIG.set(config if config is not None else previous)
    try:
        yield
    finally:
        _CALL_CONFIG.set(previous)


def _chat_result(result: MeshResult) -> ChatResult:
    message = result.message
    metadata = {**message.response_metadata, "mesh": mesh_metadata(result)}
    answer = AIMessage(
        content=message.content,
        tool_calls=message.tool_calls,
        id=message.id,
        usage_metadata=message.usage_metadata,
        response_metadata=metadata,
    )
    return ChatResult(generations=[ChatGeneration(message=answer)])
