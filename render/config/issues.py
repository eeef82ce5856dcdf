"""A problem with the config (setting, value, problem, fix) and all of them raised together, before any model loads."""
from __future__ import annotations

from dataclasses import dataclass

from render.user_error import UserError, _plain


@dataclass(frozen=True)
class ConfigIssue:
    setting: str
    value: object
    problem: str
    fix: str

    def __str__(self) -> str:
        return f"{self.setting}: {self.problem}\n    value: {self.value!r}\n    fix: {self.fix}"

    def as_dict(self) -> dict:
        return {"setting": self.setting, "value": _plain(self.value), "problem": self.problem, "fix": self.fix}


class ConfigErrors(UserError, ValueError):
    """All problems found in a config; raised before any model is loaded."""

    def __init__(self, issues: list[ConfigIssue]):
        self.issues = list(issues)
        super().__init__(str(self))

    def __str__(self) -> str:
        n = len(self.issues)
        lines = [f"{n} problem{'s' if n != 1 else ''} in the config (nothing was rendered):"]
        lines += [f"  - {issue}" for issue in self.issues]
        return "\n".join(lines)

    def problems(self) -> list[dict]:
        return [issue.as_dict() for issue in self.issues]

    def __reduce__(self):  # pickles back from a sweep's worker process
        return type(self), (self.issues,)


def omegaconf_issue(exc: Exception) -> ConfigIssue:
    """An OmegaConf error (an unresolvable ``${...}``, a value of the wrong type) as an issue naming the setting."""
    key = getattr(exc, "full_key", None) or "config"
    text = str(exc).split("\n    full_key:")[0].strip()
    value = getattr(exc, "value", None)
    if "nterpolation" in type(exc).__name__ or "nterpolation" in text:
        fix = "write the value without ${...} (escape a literal one as \\${...}), or refer to an existing setting"
    else:
        fix = "give a value of the setting's type (README 'Settings' lists each one)"
    return ConfigIssue(str(key), value, text, fix)
