"""The redaction capability."""
