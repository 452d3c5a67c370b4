"""The ``mesh-agents`` command line."""
