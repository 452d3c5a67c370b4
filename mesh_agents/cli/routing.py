"""CLI commands of the routing capability (to be written)."""
