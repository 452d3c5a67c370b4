"""CLI commands of the redaction capability (to be written)."""
