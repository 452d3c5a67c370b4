"""CLI commands of the cache capability (to be written)."""
