"""The songs the page may play: a config's ``audio.path``, once the renderer's analysis has read it, served only
from the folders the server lends (its home, the folder it was started in, and each ``--media`` folder) and only by
the id its plan gave (a hash of the path). Nothing else on the disk is served: the page cannot name a file."""
from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

from audio.analysis import FFMPEG_SUFFIXES

AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif"} | FFMPEG_SUFFIXES)


class Songs:
    """Song id -> the file, for the songs whose plans were asked for."""

    def __init__(self, roots: list[Path]):
        self.roots = [Path(r).resolve() for r in roots]
        self._lock = threading.Lock()
        self._files: dict[str, Path] = {}

    def lend(self, path: str | None) -> tuple[str | None, str]:
        """``(id, note)`` of a config's song: None with the reason when the server does not serve it."""
        if not path:
            return None, "no audio.path"
        target = Path(os.path.expanduser(path)).resolve()
        if target.suffix.lower() not in AUDIO_SUFFIXES or not target.is_file():
            return None, f"{path} is not an audio file the page can play"
        if not any(target.is_relative_to(root) for root in self.roots):
            folders = ", ".join(str(r) for r in self.roots)
            return None, (f"the song is outside the folders this server serves ({folders}): start it with "
                          f"--media {target.parent} to hear it here")
        song_id = hashlib.sha256(str(target).encode()).hexdigest()[:32]
        with self._lock:
            self._files[song_id] = target
        return song_id, "served for playback beside the preview"

    def file(self, song_id: str) -> Path | None:
        with self._lock:
            return self._files.get(song_id)
