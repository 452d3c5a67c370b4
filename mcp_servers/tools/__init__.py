"""One module per capability; each has ``register(server, mesh)`` that adds its tools."""
