"""Fault injection for the crash tests: ``DISCO_ANIM_FAULT=<point>`` kills the process with SIGKILL when the code
reaches that point (``frame:5`` after frame 5 is generated, before it is saved; ``write:00005.png`` or
``write:00005.state`` after the temp file is written, before it is renamed). Unset, it does nothing."""
from __future__ import annotations

import os
import signal

ENV = "DISCO_ANIM_FAULT"


def fault_point(name: str) -> None:
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
