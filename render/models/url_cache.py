"""Images given as URLs (``init_image``, image prompts), as DD's ``fetch()`` allowed: downloaded once into a cache.

A URL's file is kept as ``<cache>/<sha256 of the URL>[:24]<suffix>`` and reused by every later run (DD fetched it
again every time). A download is refused past ``max_bytes`` and gives up after ``timeout`` seconds without data;
it goes to a temporary name first, so an interrupted one never leaves a partial image under the cached name.
"""
from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

from render.user_error import UserError

DEFAULT_CACHE = Path("~/.cache/disco-anim/images")
DEFAULT_MAX_MB = 50.0
DEFAULT_TIMEOUT_S = 30.0
_CHUNK = 1 << 16


class UrlFetchError(UserError, RuntimeError):
    """A URL that could not be fetched: says which, and why (offline, refused, too large, too slow)."""

    def __init__(self, url: str, reason: str):
        self.url, self.reason = url, reason
        super().__init__(f"{url}: {reason}")


def is_url(text: str | None) -> bool:
    return bool(text) and urlparse(str(text)).scheme in ("http", "https")


def cache_dir(setting: str | None) -> Path:
    return Path(os.path.expanduser(setting)) if setting else DEFAULT_CACHE.expanduser()


def cached_path(url: str, folder: Path) -> Path:
    suffix = Path(urlparse(url).path).suffix.lower()
    suffix = suffix if suffix.isascii() and 1 < len(suffix) <= 6 and suffix[1:].isalnum() else ""
    return folder / (hashlib.sha256(url.encode()).hexdigest()[:24] + suffix)


def fetch_url(url: str, folder: Path, *, max_bytes: int, timeout: float) -> Path:
    """The cached file of ``url``, downloading it first when it is not cached yet."""
    target = cached_path(url, folder)
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + f".part{os.getpid()}")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (http/https only: is_url)
            length = response.headers.get("Content-Length")
            if length is not None and length.isdigit() and int(length) > max_bytes:
                raise UrlFetchError(url, f"is {int(length) / 1e6:.1f} MB, larger than the {max_bytes / 1e6:g} MB "
                                         "limit")
            _copy(response, partial, url, max_bytes)
        os.replace(partial, target)
    except UrlFetchError:
        raise
    except urllib.error.HTTPError as exc:
        raise UrlFetchError(url, f"the server answered {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UrlFetchError(url, f"cannot be downloaded ({reason}): offline, or the host is unreachable; "
                                 "download it yourself and give its local path") from exc
    finally:
        partial.unlink(missing_ok=True)
    return target


def _copy(response, partial: Path, url: str, max_bytes: int) -> None:
    size = 0
    with open(partial, "wb") as out:
        while chunk := response.read(_CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise UrlFetchError(url, f"is larger than the {max_bytes / 1e6:g} MB limit")
            out.write(chunk)
