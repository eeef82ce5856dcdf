"""What the run page and the sweep gallery share: escaping, relative links, numbers, and the page frame with its
inline style (no file or script is fetched from anywhere: the pages work offline, opened straight from disk)."""
from __future__ import annotations

import json
import math
import os
from enum import Enum
from html import escape
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import quote

from render.disk.atomic import atomic_open

STYLE = """
:root { color-scheme: dark; --bg: #16171a; --panel: #202227; --line: #33363d; --text: #e6e6e6; --dim: #9aa0a8;
        --accent: #7fb3ff; --bad: #ff7b72; --good: #7ee787; }
* { box-sizing: border-box; }
body { margin: 0; padding: 1.2rem 1.6rem 3rem; background: var(--bg); color: var(--text);
       font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; }
h1 { font-size: 1.35rem; margin: 0 0 .3rem; } h2 { font-size: 1.05rem; margin: 1.6rem 0 .5rem; color: var(--dim); }
a { color: var(--accent); } code { font: 12px/1.4 ui-monospace, monospace; }
img, video { max-width: 100%; height: auto; background: #000; border-radius: 4px; display: block; }
video { width: 640px; } .sheet { image-rendering: auto; width: 1024px; }
table { border-collapse: collapse; } td, th { padding: .2rem .7rem .2rem 0; text-align: left; vertical-align: top; }
th { color: var(--dim); font-weight: normal; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.badge { display: inline-block; padding: .05rem .5rem; border-radius: 1rem; font-size: 12px; background: var(--line); }
.badge.completed { background: #1f4d2b; color: var(--good); } .badge.failed { background: #5a1f1f; color: var(--bad); }
.badge.running { background: #1f3a5a; color: var(--accent); }
.note { color: var(--dim); } .error { color: var(--bad); white-space: pre-wrap; overflow-wrap: anywhere; }
.warning { border: 1px solid #8a6d1f; background: #2e2614; color: #f2cc60; border-radius: 6px; padding: .6rem .9rem;
           margin: .6rem 0; } .warning pre { background: none; padding: 0; white-space: pre-wrap; color: inherit; }
.row { display: flex; flex-wrap: wrap; gap: 1rem; align-items: flex-start; }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: .8rem; }
.frames img { width: 192px; } .frames figure { margin: 0; } figcaption { color: var(--dim); font-size: 12px; }
pre { background: var(--panel); padding: .5rem .8rem; border-radius: 4px; overflow-x: auto; }
button { background: var(--panel); color: var(--text); border: 1px solid var(--line); border-radius: 4px;
         padding: .25rem .6rem; cursor: pointer; font: inherit; }
button[aria-pressed="true"] { border-color: var(--accent); color: var(--accent); }
"""


def esc(value: Any) -> str:
    """Text for HTML, attributes included."""
    return escape(str(value), quote=True)


def href(path: Path, base: Path) -> str:
    """``path`` as a link relative to the folder ``base`` (so the pages keep working when the folder moves)."""
    relative = os.path.relpath(Path(path).resolve(), Path(base).resolve())
    return quote(Path(relative).as_posix())


def number(value: Any, digits: int = 4) -> str:
    """A metric for people: a few significant digits; empty when missing or not a number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        return "" if value is None else str(value)
    return f"{value:.{digits}g}"


def setting_value(value: Any) -> str:
    """A setting as it would be written in an override."""
    if value is None:
        return "null"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def status_class(status: str) -> str:
    return next((word for word in ("completed", "failed", "running") if status.startswith(word)), "other")


def badge(status: str) -> str:
    return f'<span class="badge {status_class(status)}">{esc(status.split(":", 1)[0])}</span>'


def key_values(rows: Iterable[tuple[str, str]], css: str = "") -> str:
    """A two-column table of already formatted HTML cells."""
    body = "".join(f"<tr><th>{esc(key)}</th><td>{value}</td></tr>" for key, value in rows)
    return f'<table class="{css}">{body}</table>' if body else '<p class="note">none</p>'


def page(title: str, body: str, *, refresh_seconds: int | None = None, script: str = "") -> str:
    """A whole self-contained page; ``refresh_seconds`` makes an open browser tab reload it (a run in progress)."""
    refresh = f'<meta http-equiv="refresh" content="{refresh_seconds}">' if refresh_seconds else ""
    code = f"<script>\n{script}\n</script>" if script else ""
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">{refresh}'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{esc(title)}</title>'
            f"<style>{STYLE}</style></head>\n<body>\n{body}\n{code}\n</body></html>\n")


def write_page(path: Path, html: str) -> Path:
    """Replace ``path`` atomically: a browser reloading it never reads half a page."""
    with atomic_open(path, "w") as fh:
        fh.write(html)
    return Path(path)
