"""Images given as URLs (``init_image``, image prompts), as DD's ``fetch()`` allowed: downloaded once into a cache.

A URL's file is kept as ``<cache>/<sha256 of the URL>[:24]<suffix>`` and reused by every later run (DD fetched it
again every time). A download is refused past ``max_bytes``, and the whole of it must finish within ``timeout``
seconds. It is decoded as an image (regular file, pixel limit, full decode, decode timeout) before it gets its cached
name, so the cache holds nothing that is not an image; a cached file that no longer decodes is fetched again.
"""
from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from urllib.parse import urlparse

from render.disk.images import image_problem
from render.models.http_fetch import UrlFetchError, fetch_file

log = logging.getLogger(__name__)

DEFAULT_CACHE = Path("~/.cache/disco-anim/images")
DEFAULT_MAX_MB = 50.0
DEFAULT_TIMEOUT_S = 30.0

__all__ = ["UrlFetchError", "cache_dir", "cached_path", "fetch_url", "is_url"]


def is_url(text: str | None) -> bool:
    return bool(text) and urlparse(str(text)).scheme in ("http", "https")


def cache_dir(setting: str | None) -> Path:
    return Path(os.path.expanduser(setting)) if setting else DEFAULT_CACHE.expanduser()


def cached_path(url: str, folder: Path) -> Path:
    suffix = Path(urlparse(url).path).suffix.lower()
    suffix = suffix if suffix.isascii() and 1 < len(suffix) <= 6 and suffix[1:].isalnum() else ""
    return folder / (hashlib.sha256(url.encode()).hexdigest()[:24] + suffix)


def fetch_url(url: str, folder: Path, *, max_bytes: int, timeout: float) -> Path:
    """The cached image of ``url``, downloaded first (within ``timeout`` seconds in all) when it is not cached yet
    or the cached file no longer decodes; raises UrlFetchError."""
    try:
        target = cached_path(url, folder)
    except ValueError as exc:  # a URL whose path urlparse refuses (an unclosed [ in the host)
        raise UrlFetchError(url, f"is not a valid URL ({exc})") from exc
    if target.is_file():
        problem = image_problem(target)
        if problem is None:
            return target
        log.warning("%s: the cached copy of %s %s; downloading it again", target, url, problem)
        target.unlink(missing_ok=True)

    def decodes(part: Path) -> None:
        problem = image_problem(part)
        if problem is not None:
            raise UrlFetchError(url, f"is not an image: {problem}")

    return fetch_file(url, target, timeout=timeout, deadline=timeout, max_bytes=max_bytes, verify=decodes)
