"""Which files a job may name when the studio listens beyond loopback: only files under its home, the folder it
started in and the ``--media`` folders, so that whoever holds the token cannot make the server read (an image, a
song, a checkpoint) or write (a cache) anywhere else. On loopback the person at the keyboard owns the machine and a
job may name what the CLI may."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator, Sequence

from render.config.schema import Config
from render.studio.checks import JobRefused

PATH_SETTINGS = ("init_image", "import_settings", "url_cache_dir", "animation.video_init_path",
                 "animation.camera_path", "audio.path", "audio.cache_dir", "flow.cache_dir", "model.custom_path",
                 "model.models_dir")


def named_paths(settings: Config) -> Iterator[tuple[str, str]]:
    """(setting, path) of every file or folder the settings name (URLs left out: they are fetched, not read)."""
    from transforms.prompts import parse_prompt

    for key in PATH_SETTINGS:
        node = settings
        for part in key.split("."):
            node = getattr(node, part)
        if node:
            yield key, str(node)
    for entries in dict(settings.image_prompts or {}).values():
        for entry in entries or ():
            try:
                yield "image_prompts", parse_prompt(str(entry)).text
            except ValueError:
                continue  # a bad weight: the prompt schedule names it


def check_paths(settings: Config, roots: Sequence[Path] | None) -> None:
    """Raise :class:`JobRefused` for every path outside ``roots`` (None: no limit, the server is on loopback)."""
    if roots is None:
        return
    inside = [Path(r).expanduser().resolve() for r in roots]
    problems = []
    for key, value in named_paths(settings):
        if value.startswith(("http://", "https://")):
            continue
        path = Path(os.path.expanduser(value)).resolve()
        if not any(path.is_relative_to(root) for root in inside):
            problems.append({"setting": key, "value": value, "problem": "is outside the folders this server lets jobs "
                             "use (it listens beyond loopback)", "fix": "put the file under one of "
                             f"{', '.join(str(r) for r in inside)}, or start the server with --media <its folder>"})
    if problems:
        raise JobRefused(problems)
