"""CLI commands of the usage capability (to be written)."""
