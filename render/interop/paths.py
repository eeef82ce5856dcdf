"""Files a settings file names (init images, image prompts, videos, songs): found beside it or where the run starts."""
from __future__ import annotations

import os
from pathlib import Path


def existing_file(value: str, folder: Path, *, allow_url: bool = False) -> str | None:
    """``value`` as given when it names a file from the working folder (or, with ``allow_url``, is an http(s) URL,
    which the run downloads), the file beside the settings file (as an absolute path) when it names one there, else
    None."""
    text = os.path.expanduser(str(value).strip())
    if not text:
        return None
    if text.startswith(("http://", "https://")) and allow_url:
        return text
    if Path(text).is_file():
        return str(value).strip()
    beside = Path(folder) / text
    if not Path(text).is_absolute() and beside.is_file():
        return str(beside.resolve())
    return None
