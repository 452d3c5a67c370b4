"""CLI commands of the demo capability (to be written)."""
