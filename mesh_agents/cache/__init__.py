"""The cache capability."""
