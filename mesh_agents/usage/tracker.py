"""The usage facade: reserve budget before a model call, settle or release it after, keep the ledger.

Each model call goes through ``reserve`` first: the prompt estimate plus the output
cap is checked against every budget that applies, atomically. After the call,
``settle`` replaces the hold with the reported or estimated usage, prices it and
writes it to the ledger. A failed attempt goes through ``release`` instead, and
tokens it is known to have consumed still count. Cache hits go through
``record_cache_read`` and spend nothing.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from langchain_core.messages import AIMessage, BaseMessage
from opentelemetry import trace

from mesh_agents.errors import BackendUnavailable, BudgetExceeded, InvalidInputError
from mesh_agents.tracing import GenAI, current_trace_id, get_meter
from mesh_agents.tracing import Mesh as MeshAttr
from mesh_agents.types import MeshRequest
from mesh_agents.usage import tokenizer as tokenizers
from mesh_agents.usage.base import BudgetStore, Ledger, Reservation, TokenCount, Tokenizer, TokenUsage, UsageRecord
from mesh_agents.usage.budgets import AppliedBudget, apply_budget, budget_exceeded
from mesh_agents.usage.pricing import PriceBook
from mesh_agents.usage.report import aggregate
from mesh_agents.usage.schema import UsageSettings

if TYPE_CHECKING:  # imported for annotations only: settings imports this package
    from mesh_agents.cache.base import CacheLookup
    from mesh_agents.routing.base import Target
    from mesh_agents.settings import MeshSettings

__all__ = ["UsageTracker"]

logger = logging.getLogger(__name__)


# Bucket boundaries the GenAI semantic conventions advise for gen_ai.client.token.usage.
_TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)


class UsageTracker:
    """Counts, prices and limits every model call the mesh makes.

    Args:
        settings: Mesh settings; ``settings.usage`` and each tenant's ``usage``
            override hold budgets and prices. With ``settings.redis_url`` set, budgets
            and the ledger live in Redis and hold across processes.
        store: Budget store to use instead of the one ``settings`` selects.
        ledger: Ledger to use instead of the one ``settings`` selects
            (``usage.ledger_path``, else Redis, else memory).

    Nothing connects or loads at construction: the store, ledger and tokenizer are
    created at first use.
    """

    def __init__(
        self,
        settings: MeshSettings,
        *,
        store: BudgetStore | None = None,
        ledger: Ledger | None = None,
    ) -> None:
        self.settings = settings
        self._store = store
        self._ledger = ledger
        self._lock = threading.Lock()
        self._tenant_settings: dict[str, UsageSettings] = {}
        self._prices: dict[str, PriceBook] = {}
        self._targets: dict[str, _TargetInfo] = {}
        self._redis: Any = None
        self._instruments: tuple[Any, Any] | None = None

    # Plumbing, created at first use.

    @property
    def store(self) -> BudgetStore:
        """The budget store: the one passed in, else Redis when ``redis_url`` is set, else memory."""
        if self._store is None:
            with self._lock:
                if self._store is None:
                    if self.settings.redis_url:
                        from mesh_agents.usage.redis import RedisBudgetStore

                        self._store = RedisBudgetStore(self._redis_client())
                    else:
                        from mesh_agents.usage.memory import MemoryBudgetStore

                        self._store = MemoryBudgetStore()
        return self._store

    @property
    def ledger(self) -> Ledger:
        """The ledger: the one passed in, else a JSON Lines file, else Redis, else memory."""
        if self._ledger is None:
            with self._lock:
                if self._ledger is None:
                    self._ledger = self._make_ledger()
        return self._ledger

    def _make_ledger(self) -> Ledger:
        usage = self.settings.usage
        if usage.ledger_path is not None:
            from mesh_agents.usage.jsonl import JsonlLedger

            return JsonlLedger(usage.ledger_path)
        if self.settings.redis_url:
            from mesh_agents.usage.redis import RedisLedger

            return RedisLedger(
                self._redis_client(), key=f"{usage.key_prefix}:ledger", max_records=usage.ledger_max_records
            )
        from mesh_agents.usage.memory import MemoryLedger

        return MemoryLedger(usage.ledger_max_records)

    def _redis_client(self) -> Any:
        if self._redis is None:
            from mesh_agents.usage.redis import connect

            assert self.settings.redis_url is not None
            self._redis = connect(self.settings.redis_url, timeout_s=self.settings.usage.store_timeout_s)
        return self._redis

    def _usage_settings(self, tenant: str) -> UsageSettings:
        found = self._tenant_settings.get(tenant)
        if found is None:
            found = self._tenant_settings[tenant] = self.settings.for_tenant(tenant).usage
        return found

    def _price(self, tenant: str, usage: TokenUsage, target: str, at: float) -> float | None:
        """Price ``usage`` of ``target`` with the tenant's price overrides; None when unknown."""
        book = self._prices.get(tenant)
        if book is None:
            prices = self._usage_settings(tenant).prices
            # Tenants without their own prices share one book, so an unknown model warns once.
            shared = prices == self.settings.usage.prices
            book = self._prices.get("") if shared else None
            if book is None:
                book = PriceBook(prices)
                if shared:
                    self._prices[""] = book
            self._prices[tenant] = book
        info = self._targets.get(target) or _TargetInfo(target, "unknown", None)
        return book.cost(
            usage, target=target, model_name=info.model_name, provider=info.provider, at=at, fallback=info.fallback
        )

    def _remember(self, target: Target) -> str:
        """Keep what pricing needs about ``target`` for later cache hits and releases; return its model name."""
        model_name = target.model_name or target.name
        input_price = getattr(target, "input_usd_per_token", None)
        output_price = getattr(target, "output_usd_per_token", None)
        fallback = (input_price, output_price) if input_price is not None and output_price is not None else None
        self._targets[target.name] = _TargetInfo(model_name, target.provider, fallback)
        return model_name

    def _tokenizer(self, tenant: str | None = None) -> Tokenizer:
        usage = self._usage_settings(tenant) if tenant else self.settings.usage
        return tokenizers.load_tokenizer(usage.tokenizer)

    # The facade.

    def count_tokens(self, text: str | Sequence[BaseMessage], *, model: str | None = None) -> TokenCount:
        """Count tokens of a text or a message list with the configured tokenizer.

        Raises:
            InvalidInputError: ``text`` is neither a string nor a sequence of messages.
        """
        if not isinstance(text, str) and not all(isinstance(m, BaseMessage) for m in text):
            raise InvalidInputError("count_tokens takes a string or a list of LangChain messages")
        return tokenizers.count(self._tokenizer(), text, model)

    def reserve(self, request: MeshRequest, target: Target) -> Reservation:
        """Hold the call's estimated tokens and cost in every budget that applies.

        The estimate is the prompt's tokens (messages and tool definitions) plus
        ``request.params.max_tokens``, or ``usage.default_max_tokens`` when unset.

        Raises:
            BudgetExceeded: a budget has no room; the message names it, its limit, the
                spend and when its window resets. Also raised when a cost budget applies
                to a model without a known price and ``usage.block_unpriced`` is set.
            BackendUnavailable: the budget store is unreachable and a budget that
                applies is not ``fail_open``.
        """
        usage = self._usage_settings(request.tenant)
        model_name = self._remember(target)
        now = time.time()
        tokenizer = self._tokenizer(request.tenant)
        prompt_tokens = tokenizers.count_messages(tokenizer, request.messages, request.params.tools)
        output_cap = request.params.max_tokens or usage.default_max_tokens
        estimate = TokenUsage(input_tokens=prompt_tokens, output_tokens=output_cap, estimated=True)
        applied = self._applied_budgets(usage, request, target, now)
        cost = self._price(request.tenant, estimate, target.name, now)
        reservation = Reservation(
            id=uuid.uuid4().hex,
            tenant=request.tenant,
            target=target.name,
            tokens=estimate.total_tokens,
            cost_usd=cost or 0.0,
            expires_at=now + usage.reservation_ttl_s,
            labels=_labels(request, model_name, target.provider),
            prompt_tokens=prompt_tokens,
        )
        if not applied:
            return reservation

        if cost is None and usage.block_unpriced and any(a.budget.max_cost_usd is not None for a in applied):
            self._record_blocked(reservation, applied[0].budget.label, now)
            raise BudgetExceeded(
                f"model {model_name!r} has no known price and a cost budget applies to tenant {request.tenant!r}; "
                "add its price under usage.prices in mesh.yaml or set usage.block_unpriced to false",
                details={"tenant": request.tenant, "model": model_name, "target": target.name},
            )

        limits = {a.key: a.limit for a in applied}
        try:
            denial = self.store.reserve(reservation, limits)
        except BackendUnavailable as exc:
            closed = [a.budget.label for a in applied if not a.budget.fail_open]
            if closed:
                raise BackendUnavailable(
                    f"{exc} Calls for tenant {request.tenant!r} are blocked because budgets "
                    f"{', '.join(repr(c) for c in closed)} fail closed; set fail_open: true on a budget "
                    "to let calls through while the store is down",
                    details=exc.details | {"tenant": request.tenant, "budgets": closed},
                ) from exc
            logger.warning(
                "budget store unreachable; letting the call through unchecked because its budgets are fail-open: "
                "tenant=%s target=%s",
                request.tenant,
                target.name,
            )
            return reservation

        if denial is not None:
            blocking = next(a for a in applied if a.key == denial.key)
            self._record_blocked(reservation, blocking.budget.label, now)
            raise budget_exceeded(blocking, denial, tenant=request.tenant, now=now)
        reservation.budget_keys = list(limits)
        reservation.held = True
        _set_remaining_attributes(reservation.remaining)
        return reservation

    def settle(
        self,
        reservation: Reservation,
        request: MeshRequest,
        target: Target,
        message: AIMessage,
        *,
        streamed_text: str | None = None,
    ) -> UsageRecord:
        """Replace the reservation with the call's actual usage, price it and write it to the ledger.

        Usage comes from ``message.usage_metadata`` when the provider reported it.
        Otherwise the prompt estimate and a count of the output stand in, marked as
        estimated. The output is ``streamed_text`` for a stream, else the message text
        and tool calls.
        A store or ledger failure here is logged, not raised: the call already happened.

        Raises:
            InvalidInputError: the reservation was already settled or released.
        """
        self._close(reservation)
        model_name = self._remember(target)
        usage = _reported_usage(message.usage_metadata)
        if usage is None:
            tokenizer = self._tokenizer(request.tenant)
            answer = streamed_text if streamed_text is not None else tokenizers.message_text(message)
            prompt = reservation.prompt_tokens or tokenizers.count_messages(
                tokenizer, request.messages, request.params.tools
            )
            usage = TokenUsage(input_tokens=prompt, output_tokens=tokenizer.count(answer), estimated=True)
        now = time.time()
        cost = self._price(request.tenant, usage, target.name, now)
        self._settle_store(reservation, usage, cost)
        record = UsageRecord(
            timestamp=now,
            tenant=request.tenant,
            target=target.name,
            model_name=model_name,
            usage=usage,
            cost_usd=cost,
            user=request.user,
            agent=request.agent,
            session=request.session,
            run_id=request.run_id,
            trace_id=current_trace_id(),
            provider=target.provider,
        )
        self._append(record)
        self._record_metrics(record, response_model=_response_model(message))
        return record

    def release(
        self,
        reservation: Reservation,
        *,
        error: BaseException | None = None,
        consumed: TokenUsage | None = None,
    ) -> None:
        """Free the reservation of a failed attempt.

        When the attempt is known to have consumed tokens (``consumed``, or an
        ``error`` that carries ``usage_metadata`` or ``usage``), they are spent and
        priced like a settled call. Either way the attempt is written to the ledger
        as failed.
        """
        self._close(reservation)
        consumed = consumed or _usage_from_error(error)
        labels = reservation.labels
        model_name = labels.get("model", reservation.target)
        now = time.time()
        cost: float | None = None
        if consumed is not None:
            cost = self._price(reservation.tenant, consumed, reservation.target, now)
            self._settle_store(reservation, consumed, cost)
        elif reservation.held:
            try:
                self.store.release(reservation)
            except BackendUnavailable:
                logger.exception(
                    "releasing a reservation failed; it expires at %.0f: id=%s", reservation.expires_at, reservation.id
                )
        record = UsageRecord(
            timestamp=now,
            tenant=reservation.tenant,
            target=reservation.target,
            model_name=model_name,
            usage=consumed or TokenUsage(),
            cost_usd=cost,
            user=labels.get("user"),
            agent=labels.get("agent"),
            session=labels.get("session"),
            run_id=labels.get("run"),
            trace_id=current_trace_id(),
            provider=labels.get("provider"),
            outcome="failed",
        )
        self._append(record)
        if consumed is not None:
            self._record_metrics(record, response_model=None, error=error)

    def record_cache_read(self, request: MeshRequest, lookup: CacheLookup) -> UsageRecord:
        """Write a cache hit to the ledger: the tokens the original call used, served without new spend.

        The record's ``saved_usd`` is what the original call cost. Budgets are not
        touched. Without the original usage in ``lookup.usage``, the prompt and the
        cached answer are counted locally and marked as estimated.
        """
        target = lookup.target or request.model or "unknown"
        info = self._targets.get(target) or _TargetInfo(target, "unknown", None)
        original = _reported_usage(lookup.usage)
        if original is None:
            tokenizer = self._tokenizer(request.tenant)
            answer = tokenizers.message_text(lookup.message) if lookup.message is not None else ""
            original = TokenUsage(
                input_tokens=tokenizers.count_messages(tokenizer, request.messages, request.params.tools),
                output_tokens=tokenizer.count(answer),
                estimated=True,
            )
        now = time.time()
        saved = self._price(request.tenant, original, target, now)
        served = TokenUsage(
            input_tokens=original.input_tokens,
            output_tokens=original.output_tokens,
            cache_read_tokens=original.input_tokens,
            reasoning_tokens=original.reasoning_tokens,
            estimated=original.estimated,
        )
        record = UsageRecord(
            timestamp=now,
            tenant=request.tenant,
            target=target,
            model_name=info.model_name,
            usage=served,
            cost_usd=0.0,
            cached=True,
            user=request.user,
            agent=request.agent,
            session=request.session,
            run_id=request.run_id,
            trace_id=current_trace_id(),
            provider=info.provider,
            outcome="cached",
            saved_usd=saved,
        )
        self._append(record)
        return record

    def report(self, *, by: str, since_s: float | None = None, tenant: str | None = None) -> list[dict[str, Any]]:
        """Return ledger totals grouped by ``by`` (tenant, user, agent, model, target, session or run).

        Args:
            by: The grouping.
            since_s: Only records from the last ``since_s`` seconds; None for all.
            tenant: Only this tenant's records.

        Raises:
            InvalidInputError: ``by`` or ``since_s`` is invalid.
            BackendUnavailable: the Redis ledger could not be read.
        """
        if since_s is not None and since_s <= 0:
            raise InvalidInputError(f"invalid since_s {since_s!r}: pass a positive number of seconds or None")
        since = None if since_s is None else time.time() - since_s
        return aggregate(self.ledger.query(since=since, tenant=tenant), by)

    def remaining(self, request: MeshRequest, target: Target) -> list[dict[str, Any]]:
        """Return each budget that applies to this call with its limits, spend and held amounts."""
        usage = self._usage_settings(request.tenant)
        applied = self._applied_budgets(usage, request, target, time.time())
        spent = self.store.usage([a.key for a in applied]) if applied else {}
        rows = []
        for a in applied:
            values = spent.get(a.key, {})
            rows.append(
                {
                    "budget": a.budget.label,
                    "per": a.budget.per,
                    "subject": a.subject,
                    "window": a.budget.window,
                    "resets_at": a.resets_at,
                    "max_tokens": a.budget.max_tokens,
                    "max_cost_usd": a.budget.max_cost_usd,
                    "max_requests": a.budget.max_requests,
                    "tokens": values.get("tokens", 0),
                    "cost_usd": values.get("cost", 0) / 1e9,
                    "requests": values.get("requests", 0),
                    "held_tokens": values.get("held_tokens", 0),
                    "held_cost_usd": values.get("held_cost", 0) / 1e9,
                }
            )
        return rows

    def fraction_used(self, tenant: str) -> float:
        """Return the used share of the tenant's tightest tenant-wide budget, 0 to 1 (above 1 when overrun).

        Held reservations count as used. Budgets per user, agent, session, run or model
        are left out because they depend on who asks. Returns 0.0 without such a budget.
        """
        usage = self._usage_settings(tenant)
        now = time.time()
        applied = [
            apply_budget(
                budget,
                prefix=usage.key_prefix,
                tenant=tenant,
                subject=tenant,
                now=now,
                grace_s=usage.reservation_ttl_s,
            )
            for budget in usage.budgets
            if budget.per == "tenant"
        ]
        if not applied:
            return 0.0
        spent = self.store.usage([a.key for a in applied])
        fraction = 0.0
        for a in applied:
            values = spent.get(a.key, {})
            pairs = (
                (a.budget.max_tokens, values.get("tokens", 0) + values.get("held_tokens", 0)),
                (a.budget.max_cost_usd, (values.get("cost", 0) + values.get("held_cost", 0)) / 1e9),
                (a.budget.max_requests, values.get("requests", 0)),
            )
            for limit, used in pairs:
                if limit:
                    fraction = max(fraction, used / limit)
        return fraction

    # Helpers.

    def _applied_budgets(
        self, usage: UsageSettings, request: MeshRequest, target: Target, now: float
    ) -> list[AppliedBudget]:
        subjects: Mapping[str, str | None] = {
            "tenant": request.tenant,
            "user": request.user,
            "agent": request.agent,
            "session": request.session,
            "run": request.run_id,
            "model": target.name,
        }
        applied = []
        for budget in usage.budgets:
            subject = subjects[budget.per]
            if subject is None:
                continue
            if budget.only is not None:
                names = {subject, target.model_name} if budget.per == "model" else {subject}
                if not names & set(budget.only):
                    continue
            applied.append(
                apply_budget(
                    budget,
                    prefix=usage.key_prefix,
                    tenant=request.tenant,
                    subject=subject,
                    now=now,
                    grace_s=usage.reservation_ttl_s,
                )
            )
        return applied

    def _close(self, reservation: Reservation) -> None:
        with self._lock:
            if reservation.closed:
                raise InvalidInputError(
                    f"reservation {reservation.id} was already settled or released; settle or release it once"
                )
            reservation.closed = True

    def _settle_store(self, reservation: Reservation, usage: TokenUsage, cost: float | None) -> None:
        if not reservation.held:
            return
        try:
            self.store.settle(reservation, tokens=usage.total_tokens, cost_usd=cost or 0.0)
        except BackendUnavailable:
            # The call happened; failing it now would lose the answer. The hold expires.
            logger.exception(
                "settling usage in the budget store failed; the spend is missing from its budgets: "
                "tenant=%s target=%s reservation=%s",
                reservation.tenant,
                reservation.target,
                reservation.id,
            )

    def _append(self, record: UsageRecord) -> None:
        try:
            self.ledger.append(record)
        except (BackendUnavailable, OSError):
            logger.exception(
                "writing a usage record to the ledger failed: tenant=%s target=%s outcome=%s",
                record.tenant,
                record.target,
                record.outcome,
            )

    def _record_blocked(self, reservation: Reservation, budget: str, now: float) -> None:
        labels = reservation.labels
        self._append(
            UsageRecord(
                timestamp=now,
                tenant=reservation.tenant,
                target=reservation.target,
                model_name=labels.get("model", reservation.target),
                usage=TokenUsage(),
                cost_usd=None,
                user=labels.get("user"),
                agent=labels.get("agent"),
                session=labels.get("session"),
                run_id=labels.get("run"),
                trace_id=current_trace_id(),
                provider=labels.get("provider"),
                outcome="blocked",
                budget=budget,
            )
        )

    def _record_metrics(
        self, record: UsageRecord, *, response_model: str | None, error: BaseException | None = None
    ) -> None:
        if self._instruments is None:
            meter = get_meter()
            histogram = meter.create_histogram(
                "gen_ai.client.token.usage",
                unit="{token}",
                description="Number of input and output tokens used.",
                explicit_bucket_boundaries_advisory=_TOKEN_BUCKETS,
            )
            cost = meter.create_counter("mesh.usage.cost", unit="USD", description="Spend on model calls, priced ones.")
            self._instruments = (histogram, cost)
        histogram, cost_counter = self._instruments
        attributes: dict[str, Any] = {
            GenAI.OPERATION_NAME: "chat",
            GenAI.PROVIDER_NAME: record.provider or "unknown",
            GenAI.REQUEST_MODEL: record.model_name,
            MeshAttr.TENANT: record.tenant,
        }
        if response_model:
            attributes[GenAI.RESPONSE_MODEL] = response_model
        if record.outcome == "failed":
            attributes[GenAI.ERROR_TYPE] = type(error).__name__ if error is not None else "_OTHER"
        histogram.record(record.usage.input_tokens, attributes | {"gen_ai.token.type": "input"})
        histogram.record(record.usage.output_tokens, attributes | {"gen_ai.token.type": "output"})
        if record.cost_usd:
            cost_counter.add(record.cost_usd, attributes)


class _TargetInfo(NamedTuple):
    model_name: str
    provider: str
    fallback: tuple[float, float] | None
    """The target's own USD prices per input and output token, used when nothing else prices the model."""


def _set_remaining_attributes(remaining: Mapping[str, float]) -> None:
    """Put the room left in the tightest budgets on the current span (the model call's, in the mesh)."""
    span = trace.get_current_span()
    if not span.is_recording():
        return
    if "tokens" in remaining:
        span.set_attribute(MeshAttr.BUDGET_REMAINING, int(remaining["tokens"]))
    if "cost_usd" in remaining:
        span.set_attribute(MeshAttr.BUDGET_REMAINING_COST, remaining["cost_usd"])
    if "requests" in remaining:
        span.set_attribute(MeshAttr.BUDGET_REMAINING_REQUESTS, int(remaining["requests"]))


def _labels(request: MeshRequest, model_name: str, provider: str) -> dict[str, str]:
    labels = {"model": model_name, "provider": provider}
    for name, value in (
        ("user", request.user),
        ("agent", request.agent),
        ("session", request.session),
        ("run", request.run_id),
    ):
        if value is not None:
            labels[name] = value
    return labels


def _reported_usage(metadata: Mapping[str, Any] | None) -> TokenUsage | None:
    """Convert LangChain ``usage_metadata`` to TokenUsage; None when absent or empty."""
    if not metadata:
        return None
    input_tokens = int(metadata.get("input_tokens") or 0)
    output_tokens = int(metadata.get("output_tokens") or 0)
    if input_tokens == 0 and output_tokens == 0:
        return None
    input_details = metadata.get("input_token_details") or {}
    output_details = metadata.get("output_token_details") or {}
    return TokenUsage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=int(input_details.get("cache_read") or 0),
        cache_creation_tokens=int(input_details.get("cache_creation") or 0),
        reasoning_tokens=int(output_details.get("reasoning") or 0),
    )


def _usage_from_error(error: BaseException | None) -> TokenUsage | None:
    """Find usage on an exception: LangChain-style ``usage_metadata``, or a ``usage`` dict or object."""
    if error is None:
        return None
    metadata = getattr(error, "usage_metadata", None)
    if isinstance(metadata, Mapping):
        return _reported_usage(metadata)
    usage = getattr(error, "usage", None)
    if usage is None:
        return None
    if not isinstance(usage, Mapping):
        usage = {
            name: getattr(usage, name, None)
            for name in ("input_tokens", "output_tokens", "prompt_tokens", "completion_tokens")
        }
    # OpenAI-style names map onto LangChain's.
    converted = {
        "input_tokens": usage.get("input_tokens") or usage.get("prompt_tokens") or 0,
        "output_tokens": usage.get("output_tokens") or usage.get("completion_tokens") or 0,
    }
    return _reported_usage(converted)


def _response_model(message: AIMessage) -> str | None:
    metadata = message.response_metadata or {}
    value = metadata.get("model_name") or metadata.get("model")
    return str(value) if value else None
