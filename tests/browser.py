"""Headless Chromium over the DevTools protocol on a pipe (``--remote-debugging-pipe``, no port): open a file:// page,
evaluate JavaScript in it, click like a user, take screenshots."""
from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

EXECUTABLES = ("chromium", "chromium-browser")
INSTALL_HINT = "apt-get update && apt-get install -y chromium"


class BrowserError(RuntimeError):
    """The browser answered with an error, a page script threw, or it did not answer in time."""


def require_chromium() -> str:
    """Chromium's path; without it the test is skipped with the reason, and fails under CI (``CI=true``)."""
    for name in EXECUTABLES:
        path = shutil.which(name)
        if path is not None:
            return path
    reason = f"chromium is not installed, so the browser tests cannot run ({INSTALL_HINT})"
    if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
        pytest.fail(f"{reason}; CI must run them", pytrace=False)
    pytest.skip(reason)


def _above_ten(fd: int) -> int:
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return moved


class Browser:
    """One headless Chromium with one page; messages are NUL-terminated JSON on fds 3 (in) and 4 (out)."""

    def __init__(self, executable: str, profile: Path, *, width: int = 1280, height: int = 900,
                 timeout: float = 20.0) -> None:
        self.timeout = timeout
        read_cmd, write_cmd = os.pipe()
        read_res, write_res = os.pipe()
        read_cmd, write_res = _above_ten(read_cmd), _above_ten(write_res)  # never 3 or 4 themselves
        args = [executable, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--no-default-browser-check", "--mute-audio", "--disable-extensions", "--disable-sync",
                "--disable-background-networking", "--disable-component-update", "--remote-debugging-pipe",
                f"--user-data-dir={profile}", f"--window-size={width},{height}", "about:blank"]
        script = f'exec "$@" 3<&{read_cmd} 4>&{write_res} {read_cmd}<&- {write_res}>&-'
        self.log_path = Path(profile) / "chromium.log"
        Path(profile).mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(["bash", "-c", script, "bash", *args], pass_fds=(read_cmd, write_res),
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        os.close(read_cmd)
        os.close(write_res)
        self._out, self._in = write_cmd, read_res
        self._buffer, self._next_id, self._events = b"", 0, []
        self.session: str | None = None
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.call("Page.enable")
        self.call("Runtime.enable")
        self.call("Network.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)

    # --- the protocol ------------------------------------------------------------------------------------------

    def call(self, method: str, **params: Any) -> dict:
        """Send one command (to the page once attached) and wait for its answer."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if self.session is not None and not method.startswith(("Target.", "Browser.")):
            message["sessionId"] = self.session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._receive(deadline, f"{method} got no answer")
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self._events.append(reply)

    def wait_event(self, method: str) -> dict:
        deadline = time.monotonic() + self.timeout
        while True:
            for i, event in enumerate(self._events):
                if event["method"] == method:
                    return self._events.pop(i)
            self._events.append(self._receive(deadline, f"no {method} event"))

    def _receive(self, deadline: float, what: str) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._in], [], [], max(0.0, left))
            if not ready:
                raise BrowserError(f"{what} within {self.timeout:g} s; see {self.log_path}")
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                raise BrowserError(f"chromium closed the pipe ({what}); see {self.log_path}")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    # --- what a test does --------------------------------------------------------------------------------------

    def open(self, path: Path) -> None:
        """Load a local page and wait for its load event (its images loaded or failed by then)."""
        self._events.clear()
        self.call("Page.navigate", url=Path(path).resolve().as_uri())
        self.wait_event("Page.loadEventFired")

    def goto(self, url: str) -> None:
        """Load a page served over HTTP and wait for its load event; the previous page is left for a blank one
        first, so that none of its late requests are counted as this page's."""
        self.call("Page.navigate", url="about:blank")
        self.wait_event("Page.loadEventFired")
        self.evaluate("0")  # a round trip: the blank page's events are in
        self._events.clear()
        self.call("Page.navigate", url=url)
        self.wait_event("Page.loadEventFired")

    def drag(self, start: dict, end: dict, steps: int = 8) -> None:
        """Press the left button at ``start`` ({x, y}), move to ``end`` in ``steps`` moves, release there."""
        self.call("Input.dispatchMouseEvent", type="mouseMoved", x=start["x"], y=start["y"])
        self.call("Input.dispatchMouseEvent", type="mousePressed", x=start["x"], y=start["y"], button="left",
                  clickCount=1)
        for i in range(1, steps + 1):
            x, y = (start[k] + (end[k] - start[k]) * i / steps for k in ("x", "y"))
            self.call("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y, button="left", buttons=1)
        self.call("Input.dispatchMouseEvent", type="mouseReleased", x=end["x"], y=end["y"], button="left",
                  clickCount=1)

    def type_into(self, selector: str, text: str) -> None:
        """Replace the text of a field as a user would: focus, select all, type."""
        self.evaluate(f"(() => {{ const el = document.querySelector({json.dumps(selector)}); el.focus(); "
                      f"el.select(); }})()")
        self.call("Input.insertText", text=text)

    def wait_for(self, expression: str, timeout: float = 20.0, interval: float = 0.1) -> Any:
        """The first truthy value of a JavaScript expression, polled; :class:`BrowserError` after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise BrowserError(f"{expression} stayed {value!r} for {timeout:g} s")
            time.sleep(interval)

    def errors(self) -> list[str]:
        """The page's uncaught exceptions since :meth:`goto` / :meth:`open`."""
        return [e["params"]["exceptionDetails"].get("exception", {}).get("description", "")
                for e in self._events if e["method"] == "Runtime.exceptionThrown"]

    def requests(self) -> list[str]:
        """Every URL the page asked for since :meth:`open` (the page itself, images, the video...)."""
        return [e["params"]["request"]["url"] for e in self._events if e["method"] == "Network.requestWillBeSent"]

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited); a thrown error raises."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise BrowserError(details.get("exception", {}).get("description") or details.get("text"))
        return result["result"].get("value")

    def click(self, selector: str) -> None:
        """A left click with the mouse in the middle of the first element matching ``selector``."""
        box = self.evaluate(f"""(() => {{ const el = document.querySelector({json.dumps(selector)});
            if (!el) throw new Error('nothing matches ' + {json.dumps(selector)});
            el.scrollIntoView({{block: 'center'}}); const r = el.getBoundingClientRect();
            return {{x: r.left + r.width / 2, y: r.top + r.height / 2}}; }})()""")
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=box["x"], y=box["y"], button="left", clickCount=1)

    def screenshot(self, path: Path) -> Path:
        """The whole page as a PNG."""
        size = self.call("Page.getLayoutMetrics")["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        data = self.call("Page.captureScreenshot", format="png", clip=clip, captureBeyondViewport=True)["data"]
        Path(path).write_bytes(base64.b64decode(data))
        return Path(path)

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except (BrowserError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._out, self._in):
            os.close(fd)
