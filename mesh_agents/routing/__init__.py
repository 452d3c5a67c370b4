"""The routing capability."""
