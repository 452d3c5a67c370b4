"""Token and cost tracking: usage from providers or a tokenizer, prices, budgets and a ledger."""

from mesh_agents.usage.base import (
    BudgetDenial,
    BudgetLimit,
    BudgetStore,
    Ledger,
    Reservation,
    TokenCount,
    Tokenizer,
    TokenUsage,
    UsageRecord,
)
from mesh_agents.usage.schema import BudgetSettings, PriceOverride, UsageSettings
from mesh_agents.usage.tracker import UsageTracker

__all__ = [
    "BudgetDenial",
    "BudgetLimit",
    "BudgetSettings",
    "BudgetStore",
    "Ledger",
    "PriceOverride",
    "Reservation",
    "TokenCount",
    "TokenUsage",
    "Tokenizer",
    "UsageRecord",
    "UsageSettings",
    "UsageTracker",
]
