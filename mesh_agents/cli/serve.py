"""CLI commands of the serve capability (to be written)."""
