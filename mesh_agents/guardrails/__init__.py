"""The guardrails capability."""
