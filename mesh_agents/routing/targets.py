"""Building ``Target`` objects from chat models and settings, with prices from genai-prices."""

from __future__ import annotations

import functools
import logging
from typing import Any

from langchain_core.language_models import BaseChatModel

from mesh_agents.errors import ConfigurationError, MissingExtraError
from mesh_agents.routing.base import Target
from mesh_agents.routing.schema import TargetSettings

__all__ = ["PriceInfo", "lookup_price", "target_from_model", "target_from_settings"]

logger = logging.getLogger(__name__)

_DEFAULT_CONTEXT_WINDOW = 128_000


class PriceInfo:
    """Per-token prices in US dollars and the context window, as genai-prices lists them."""

    __slots__ = ("context_window", "input_usd_per_token", "output_usd_per_token")

    def __init__(self, input_usd_per_token: float, output_usd_per_token: float, context_window: int | None) -> None:
        self.input_usd_per_token = input_usd_per_token
        self.output_usd_per_token = output_usd_per_token
        self.context_window = context_window


@functools.lru_cache(maxsize=512)
def lookup_price(provider: str | None, model_name: str) -> PriceInfo | None:
    """Return genai-prices' price for a model, or None when it is not listed.

    Tiered prices are taken at their base tier (prompts under the first tier's start),
    so the figure is an estimate for very long prompts.
    """
    if not model_name:
        return None
    from genai_prices import Usage, calc_price

    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    for provider_id in (provider, None) if provider else (None,):
        try:
            price = calc_price(usage, model_ref=model_name, provider_id=provider_id)
        except LookupError:
            continue
        window = getattr(price.model, "context_window", None)
        return PriceInfo(
            float(price.input_price) / 1_000_000,
            float(price.output_price) / 1_000_000,
            int(window) if window else None,
        )
    return None


def target_from_model(name: str, model: BaseChatModel, **metadata: Any) -> Target:
    """Wrap a chat model as a target, inferring provider, model name, window and tools support.

    Keyword arguments override what is inferred (``provider``, ``model_name``,
    ``context_window``, ``capabilities``, ``tags``, ``weight`` and the two prices).
    """
    provider, model_name = _ls_identity(model)
    provider = metadata.pop("provider", None) or provider
    model_name = metadata.pop("model_name", None) or model_name
    price = lookup_price(provider, model_name) if model_name else None
    profile = getattr(model, "profile", None) or {}

    capabilities = set(metadata.pop("capabilities", ()) or ())
    if type(model).bind_tools is not BaseChatModel.bind_tools or profile.get("tool_calling"):
        capabilities.add("tools")
    if profile.get("image_inputs"):
        capabilities.add("vision")
    if profile.get("structured_output"):
        capabilities.add("json")

    window = metadata.pop("context_window", None)
    if window is None:
        window = profile.get("max_input_tokens") or (price.context_window if price else None) or _DEFAULT_CONTEXT_WINDOW
    input_price = metadata.pop("input_usd_per_token", None)
    output_price = metadata.pop("output_usd_per_token", None)
    if price is not None:
        input_price = price.input_usd_per_token if input_price is None else input_price
        output_price = price.output_usd_per_token if output_price is None else output_price
    return Target(
        name=name,
        model=model,
        provider=provider or "unknown",
        model_name=model_name,
        context_window=int(window),
        capabilities=frozenset(capabilities),
        tags=frozenset(metadata.pop("tags", ()) or ()),
        weight=float(metadata.pop("weight", 1.0)),
        input_usd_per_token=input_price,
        output_usd_per_token=output_price,
    )


def target_from_settings(name: str, settings: TargetSettings) -> Target:
    """Resolve a target declared in settings: ``standin[:name]`` offline, else through ``init_chat_model``.

    Raises:
        MissingExtraError: the ``langchain`` package is not installed.
        ConfigurationError: the provider string cannot be resolved; the message names it.
    """
    provider_hint, _, bare_name = settings.model.partition(":")
    if provider_hint == "standin":
        # The offline stand-in needs no provider package, so mesh.yaml can declare it too.
        from mesh_agents.models.providers import resolve_model

        return _target(name, resolve_model(settings.model), settings, "standin", bare_name or "standin")
    try:
        from langchain.chat_models import init_chat_model
    except ImportError as exc:
        raise MissingExtraError("langchain", "providers") from exc
    try:
        model = init_chat_model(settings.model, **settings.init_kwargs)
    except ImportError as exc:
        raise ConfigurationError(
            f"target {name!r}: the integration package for {settings.model!r} is not installed "
            f"({exc.name or 'unknown module'}); install it, for example pip install langchain-{provider_hint}",
            details={"target": name, "model": settings.model},
        ) from exc
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(
            f"target {name!r}: cannot build a chat model from {settings.model!r} ({type(exc).__name__}); "
            "use 'provider:model', for example 'openai:gpt-4o-mini'",
            details={"target": name, "model": settings.model},
        ) from exc
    if not isinstance(model, BaseChatModel):
        raise ConfigurationError(
            f"target {name!r}: {settings.model!r} did not resolve to a chat model; use 'provider:model'",
            details={"target": name, "model": settings.model},
        )
    return _target(name, model, settings, provider_hint if bare_name else None, bare_name or settings.model)


def _target(name: str, model: BaseChatModel, settings: TargetSettings, provider: str | None, model_name: str) -> Target:
    per_token = 1_000_000
    return target_from_model(
        name,
        model,
        provider=settings.provider or provider,
        model_name=settings.model_name or model_name,
        context_window=settings.context_window,
        capabilities=settings.capabilities,
        tags=settings.tags,
        weight=settings.weight,
        input_usd_per_token=None if settings.input_usd_per_mtok is None else settings.input_usd_per_mtok / per_token,
        output_usd_per_token=None if settings.output_usd_per_mtok is None else settings.output_usd_per_mtok / per_token,
    )


def _ls_identity(model: BaseChatModel) -> tuple[str | None, str]:
    """Return the provider and model name that LangChain reports for tracing."""
    try:
        params = model._get_ls_params()
    except Exception:  # a third-party model may fail here; inference is best effort
        logger.debug("cannot read LangSmith params of %s", type(model).__name__, exc_info=True)
        params = {}
    provider = params.get("ls_provider")
    model_name = params.get("ls_model_name") or getattr(model, "model_name", None) or getattr(model, "model", None)
    return provider, model_name if isinstance(model_name, str) else ""
