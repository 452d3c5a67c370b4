"""The usage capability."""
