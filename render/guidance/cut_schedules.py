"""DD's cut schedules: ``"[12]*400+[4]*600"`` is 12 for the first (noisiest) 400/1000 of diffusion time, then 4.

DD ``eval``'d these strings. Here they are parsed with a small grammar and never evaluated as Python: a sum of terms,
each a bracketed list of numbers optionally repeated (``[a, b]*n`` or ``n*[a, b]``); a bare number is a constant.
The result must have exactly 1000 entries, indexed by ``1000 - (int(model_time) + 1)``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

SCHEDULE_LENGTH = 1000
_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_LIST = rf"\[\s*{_NUMBER}(?:\s*,\s*{_NUMBER})*\s*,?\s*\]"
_TERM = re.compile(rf"^\s*(?:({_LIST})\s*(?:\*\s*(\d+))?|(\d+)\s*\*\s*({_LIST}))\s*$")
MAX_REPEAT = 100_000
MAX_CUTS = 1024


class CutScheduleError(ValueError):
    pass


def parse_cut_schedule(text: str | int | float, *, integer: bool = True) -> np.ndarray:
    """1000 values from DD's list-arithmetic syntax; ``integer`` requires whole numbers (cut counts)."""
    text = str(text).strip()
    if re.fullmatch(_NUMBER, text):
        values = [float(text)] * SCHEDULE_LENGTH
    else:
        values = []
        for term in _split_terms(text):
            values += _term_values(term)
            if len(values) > SCHEDULE_LENGTH:
                break
    if len(values) != SCHEDULE_LENGTH:
        raise CutScheduleError(f"a cut schedule needs exactly {SCHEDULE_LENGTH} entries, {text!r} has "
                               f"{len(values) if len(values) <= SCHEDULE_LENGTH else 'more'}")
    out = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(out)):
        raise CutScheduleError(f"cut schedule values must be finite in {text!r}")
    if integer and np.any(out > MAX_CUTS):
        raise CutScheduleError(f"more than {MAX_CUTS} cuts per batch in {text!r}: DD uses up to 16")
    if integer and not np.all(out == np.round(out)):
        raise CutScheduleError(f"cut counts must be whole numbers in {text!r}")
    if np.any(out < 0):
        raise CutScheduleError(f"cut schedule values must not be negative in {text!r}")
    return out.astype(np.int64) if integer else out


def _split_terms(text: str) -> list[str]:
    terms, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch == "["
        depth -= ch == "]"
        if ch == "+" and depth == 0 and i > start and not text[start:i].strip().endswith(("e", "E")):
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


def _term_values(term: str) -> list[float]:
    match = _TERM.match(term)
    if not match:
        raise CutScheduleError(f"cannot read {term.strip()!r}: write terms like [12]*400, joined with +")
    body, repeat = (match.group(1), match.group(2)) if match.group(1) else (match.group(4), match.group(3))
    count = int(repeat) if repeat else 1
    if count > MAX_REPEAT:
        raise CutScheduleError(f"repeat count {count} is too large in {term.strip()!r}")
    numbers = [float(n) for n in re.findall(_NUMBER, body)]
    return numbers * count


def schedule_index(model_time: float) -> int:
    """DD's index into a cut schedule for the network's timestep (0 is the noisiest step)."""
    return SCHEDULE_LENGTH - (int(model_time) + 1)


@dataclass(frozen=True)
class CutSchedules:
    overview: np.ndarray  # 1000 ints each; index 0 is the noisiest step
    innercut: np.ndarray
    ic_pow: np.ndarray
    icgray_p: np.ndarray

    def at(self, k: int) -> tuple[int, int, float, float]:
        return int(self.overview[k]), int(self.innercut[k]), float(self.ic_pow[k]), float(self.icgray_p[k])
