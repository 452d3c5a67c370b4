"""URL helpers that import nothing from the mesh, so any module can use them."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

__all__ = ["safe_url"]


def safe_url(url: str | None) -> str:
    """Return a URL for messages and logs: password, query and fragment left out."""
    if not url:
        return "(client)"
    try:
        parts = urlsplit(url)
    except ValueError:
        return url.partition("://")[0] + "://(unparsable)"
    host = parts.netloc.rpartition("@")[2]
    netloc = f"***@{host}" if "@" in parts.netloc else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
