"""CLI commands of the guardrails capability (to be written)."""
