"""Ctrl-C and SIGTERM during a render: while frames render, the first stops after the current frame (its state is
written, so nothing is lost) and a second abandons the frame at once (the last finished frame's state stays valid);
before the frames (checks, model loading) and after them (stitching, measuring) the first stops at once. Either way
the exit status is 130 (SIGINT) or 143 (SIGTERM).

A file ``stop.request`` in the run dir asks the same as a SIGTERM, checked after every frame: the way to stop a run
that is rendered on another machine (the studio's cluster jobs); the run removes it when it stops for it."""
from __future__ import annotations

import logging
import signal
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

log = logging.getLogger(__name__)
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}
STOP_REQUEST = "stop.request"


class GracefulStop:
    def __init__(self, stop_file: Path | None = None):
        self.signum: int | None = None
        self.stop_file = Path(stop_file) if stop_file is not None else None  # its presence asks for a stop
        self._previous: dict[int, object] = {}
        self._graceful = False  # True while frames render: the first signal waits for the frame to finish

    @property
    def requested(self) -> bool:
        if self.signum is None and self.stop_file is not None and self.stop_file.exists():
            log.warning("%s asks this run to stop: stopping after the current frame", self.stop_file)
            self.signum = signal.SIGTERM
            self.stop_file.unlink(missing_ok=True)
        return self.signum is not None

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.signum, 1)

    def _handle(self, signum, frame) -> None:
        if self.signum is not None or not self._graceful:
            self.signum = self.signum or signum
            raise KeyboardInterrupt
        self.signum = signum
        log.warning("%s received: stopping after the current frame (send it again to abandon the frame now)",
                    signal.Signals(signum).name)

    @contextmanager
    def after_frame(self) -> Iterator[None]:
        """While frames render: a first signal stops after the current frame instead of at once."""
        self._graceful = True
        try:
            yield
        finally:
            self._graceful = False

    def __enter__(self) -> "GracefulStop":
        if threading.current_thread() is threading.main_thread():
            for signum in EXIT_CODES:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
