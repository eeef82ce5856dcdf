"""``UserError``: the base of every named error (a setting, a file, a run dir, the disk): the CLI exits 2, the API 422."""
from __future__ import annotations


class UserError(Exception):
    """A failure the user can fix. Its message names the setting or file, the value and the fix; it is shown
    without a traceback. ``problems()`` gives the same as ``{setting, value, problem, fix}`` records (the job API's
    422 body); a subclass that knows its setting fills them in."""

    setting: str | None = None
    value: object = None
    fix: str | None = None
    exit_code: int = 2  # the CLI's exit status
    resumable: bool = False  # the frames before it are kept: after the fix, ``resume=<run dir>`` continues

    def problems(self) -> list[dict]:
        text = str(self)
        problem, _, fix = text.partition("\n    fix: ")
        return [{"setting": self.setting, "value": _plain(self.value), "problem": problem.strip(),
                 "fix": (self.fix or fix).strip() or None}]


def _plain(value: object) -> object:
    """A value as JSON can hold it."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)
