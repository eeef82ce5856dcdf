"""Fault injection for the crash tests: ``DISCO_ANIM_FAULT=<point>`` kills the process with SIGKILL when the code
reaches that point (``frame:5`` after frame 5 is generated, before it is saved; ``write:00005.png`` or
``write:00005.state`` after the temp file is written, before it is renamed; ``stitch`` and ``measure`` before the
video is stitched and the quality measured). ``<action>:<point>`` does something else there: ``enospc`` raises
"No space left on device", ``sigterm``/``sigint`` send the process that signal, ``bug`` raises a RuntimeError (an
error of the program), ``pause`` waits ``DISCO_ANIM_FAULT_PAUSE`` seconds (default 3: a moment to act on a running
job). Unset, it does nothing."""
from __future__ import annotations

import errno
import os
import signal
import time

ENV = "DISCO_ANIM_FAULT"


def _enospc(name: str) -> None:
    raise OSError(errno.ENOSPC, "No space left on device (injected fault)", name)


def _bug(name: str) -> None:
    raise RuntimeError(f"injected fault at {name}")


ACTIONS = {
    "enospc": _enospc,
    "sigterm": lambda name: os.kill(os.getpid(), signal.SIGTERM),
    "sigint": lambda name: os.kill(os.getpid(), signal.SIGINT),
    "bug": _bug,
    "pause": lambda name: time.sleep(float(os.environ.get("DISCO_ANIM_FAULT_PAUSE", "3"))),
}


def fault_point(name: str) -> None:
    value = os.environ.get(ENV)
    if not value:
        return
    if value == name:
        os.kill(os.getpid(), signal.SIGKILL)
    action, _, point = value.partition(":")
    if point == name and action in ACTIONS:
        ACTIONS[action](name)
