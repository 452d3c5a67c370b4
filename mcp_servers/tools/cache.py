"""Tools of the semantic cache: cache_lookup, cache_store and cache_invalidate.

The cache keeps prompts and answers as given. Clients that handle personal data pass
the text that ``redact`` returned, as the mesh pipeline does, so the cache never contains
the raw values.
"""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from opentelemetry import trace
from pydantic import BaseModel, Field

from mcp_servers._tooling import Tenant, add_tool, check_text_size
from mcp_servers.errors import safe_tool
from mesh_agents.errors import InvalidInputError
from mesh_agents.tracing import Mesh as MeshAttr
from mesh_agents.types import ModelParams

__all__ = ["CacheInvalidateOutput", "CacheLookupOutput", "CacheStoreOutput", "register"]

Prompt = Annotated[str, Field(description="The request text, after redact when it may contain personal data.")]
Model = Annotated[
    str | None, Field(description="Target name the answer is for; None shares entries across the router's choices.")
]
System = Annotated[str | None, Field(description="System prompt; entries are only reused under the same one.")]
Temperature = Annotated[
    float | None, Field(ge=0.0, le=2.0, description="Sampling temperature the answer was made with.")
]


class CacheLookupOutput(BaseModel):
    """The outcome of one lookup."""

    hit: bool
    answer: str | None = Field(description="The cached answer when hit, placeholders still in it.")
    distance: float | None = Field(description="Cosine distance, 0 to 2, of the served or nearest entry.")
    distance_threshold: float | None = Field(description="The tenant's threshold for a semantic hit.")
    exact: bool = Field(description="Whether the hit matched the normalised text exactly.")
    refused_by: str | None = Field(description="Guard that refused the nearest entry despite its distance.")
    entry_id: str | None
    target: str | None = Field(description="Target that produced the cached answer.")
    skipped: str | None = Field(description="Why no lookup ran, such as 'disabled'.")


class CacheStoreOutput(BaseModel):
    """Where the answer was stored."""

    stored: bool = Field(description="False when the tenant's cache is disabled or the answer was empty.")
    entry_id: str | None


class CacheInvalidateOutput(BaseModel):
    """How many entries were deleted."""

    deleted: int


def register(server: MCPServer[Any], mesh: Any) -> None:
    """Add the cache_lookup, cache_store and cache_invalidate tools."""
    max_chars = mesh.settings.max_input_chars

    @safe_tool("cache_lookup")
    def cache_lookup(
        prompt: Prompt,
        tenant: Tenant,
        model: Model = None,
        system: System = None,
        temperature: Temperature = None,
    ) -> CacheLookupOutput:
        """Find an earlier answer to a prompt that means the same, within the tenant, model and system prompt."""
        check_text_size("prompt", prompt, max_chars)
        check_text_size("system", system or "", max_chars)
        mesh.settings.check_tenant(tenant)
        trace.get_current_span().set_attribute(MeshAttr.STEP, "cache_lookup")
        result = mesh.cache.lookup_text(
            prompt, tenant=tenant, model=model, system=system, params=ModelParams(temperature=temperature)
        )
        answer = result.message.text if result.hit and result.message is not None else None
        return CacheLookupOutput(
            hit=result.hit,
            answer=answer,
            distance=result.distance,
            distance_threshold=result.threshold,
            exact=result.exact,
            refused_by=result.refused_by,
            entry_id=result.entry_id,
            target=result.target,
            skipped=result.skipped,
        )

    @safe_tool("cache_store")
    def cache_store(
        prompt: Prompt,
        answer: Annotated[str, Field(description="The answer to keep, after redact when it may hold personal data.")],
        tenant: Tenant,
        model: Model = None,
        system: System = None,
        temperature: Temperature = None,
        target: Annotated[str | None, Field(description="Target that produced the answer.")] = None,
        tags: Annotated[list[str] | None, Field(description="Tags for cache_invalidate, such as 'pricing'.")] = None,
    ) -> CacheStoreOutput:
        """Keep an answer for later lookups of prompts that mean the same."""
        check_text_size("prompt", prompt, max_chars)
        check_text_size("answer", answer, max_chars)
        check_text_size("system", system or "", max_chars)
        mesh.settings.check_tenant(tenant)
        if not answer.strip():
            raise InvalidInputError("empty answer: pass the answer text to store")
        trace.get_current_span().set_attribute(MeshAttr.STEP, "cache_store")
        entry_id = mesh.cache.store_text(
            prompt,
            answer,
            tenant=tenant,
            model=model,
            system=system,
            params=ModelParams(temperature=temperature),
            target=target,
            tags=tags or (),
        )
        return CacheStoreOutput(stored=entry_id is not None, entry_id=entry_id)

    @safe_tool("cache_invalidate")
    def cache_invalidate(
        tenant: Tenant,
        tag: Annotated[str | None, Field(description="Delete only the entries with this tag.")] = None,
        entry_id: Annotated[str | None, Field(description="Delete only this entry.")] = None,
    ) -> CacheInvalidateOutput:
        """Delete a tenant's cached answers: all of them, those with a tag, or one entry."""
        mesh.settings.check_tenant(tenant)
        trace.get_current_span().set_attribute(MeshAttr.STEP, "cache_invalidate")
        return CacheInvalidateOutput(deleted=mesh.cache.invalidate(tenant=tenant, tag=tag, entry_id=entry_id))

    add_tool(server, cache_lookup, name="cache_lookup", title="Look up a cached answer", read_only=True)
    add_tool(server, cache_store, name="cache_store", title="Store an answer", read_only=False)
    add_tool(server, cache_invalidate, name="cache_invalidate", title="Delete cached answers", read_only=False)
