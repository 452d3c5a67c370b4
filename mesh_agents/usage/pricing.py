"""Prices of model calls: user overrides first, then the genai-prices snapshot bundled with the package.

genai-prices only fetches newer prices when ``genai_prices.UpdatePrices`` is started,
which this module never does, so pricing works offline with the installed snapshot.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from datetime import UTC, datetime

from mesh_agents.usage.base import TokenUsage
from mesh_agents.usage.schema import PriceOverride

__all__ = ["PriceBook"]

logger = logging.getLogger(__name__)

_UNKNOWN_PROVIDERS = frozenset({"", "unknown"})


class PriceBook:
    """Looks up prices by target name and provider model name.

    Args:
        overrides: Prices from ``usage.prices`` in the settings, by target or model name.
    """

    def __init__(self, overrides: Mapping[str, PriceOverride] | None = None) -> None:
        self._overrides = dict(overrides or {})
        self._unpriced: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def cost(
        self,
        usage: TokenUsage,
        *,
        target: str,
        model_name: str,
        provider: str | None,
        at: float | None = None,
        fallback: tuple[float, float] | None = None,
    ) -> float | None:
        """Return the price of ``usage`` in US dollars, or None when the model has no known price.

        Prices come from ``usage.prices`` (by target, then model name), then from
        genai-prices, then from ``fallback``: the target's own USD prices per input and
        output token, as routing settings give them, without cache discounts. A model
        none of them prices is logged once per (provider, model) as a warning, so that
        an operator can add a price rather than see it counted as free.
        """
        override = self._overrides.get(target) or self._overrides.get(model_name)
        if override is not None:
            return _override_cost(usage, override)
        key = (provider or "", model_name or target)
        price = None if key in self._unpriced else _genai_price(usage, model_name or target, provider, at)
        if price is not None:
            return price
        with self._lock:
            first = key not in self._unpriced
            self._unpriced.add(key)
        if fallback is not None:
            return usage.input_tokens * fallback[0] + usage.output_tokens * fallback[1]
        if first:
            logger.warning(
                "no price known for model %r (provider %r, target %r); its calls are reported as unpriced. "
                "Add it under usage.prices in mesh.yaml",
                key[1],
                key[0] or None,
                target,
            )
        return None


def _override_cost(usage: TokenUsage, price: PriceOverride) -> float:
    read_price = price.input_per_mtok if price.cache_read_per_mtok is None else price.cache_read_per_mtok
    write_price = price.input_per_mtok if price.cache_write_per_mtok is None else price.cache_write_per_mtok
    uncached = max(usage.input_tokens - usage.cache_read_tokens - usage.cache_creation_tokens, 0)
    total = (
        uncached * price.input_per_mtok
        + usage.cache_read_tokens * read_price
        + usage.cache_creation_tokens * write_price
        + usage.output_tokens * price.output_per_mtok
    )
    return total / 1_000_000


def _genai_price(usage: TokenUsage, model: str, provider: str | None, at: float | None) -> float | None:
    import genai_prices

    # genai-prices counts cache reads and writes inside input_tokens, as LangChain does.
    priced = genai_prices.Usage(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        cache_write_tokens=usage.cache_creation_tokens,
    )
    when = datetime.fromtimestamp(at, tz=UTC) if at is not None else None
    # A provider genai-prices does not list (a local Ollama, say) stays unpriced rather
    # than matching a hosted provider's price for a model of the same name.
    provider_id = None if (provider or "").lower() in _UNKNOWN_PROVIDERS else provider
    try:
        result = genai_prices.calc_price(priced, model, provider_id=provider_id, genai_request_timestamp=when)
    except LookupError:
        return None
    except ValueError as exc:  # inconsistent counts, such as more cache reads than input tokens
        logger.warning("genai-prices rejected the usage of model %r (%s); the call is unpriced", model, exc)
        return None
    return float(result.total_price)
