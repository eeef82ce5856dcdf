"""A job's config checked in the server's process as the CLI would check it: the overrides parsed with Hydra's own
parser, composed with Hydra's compose API on ``conf/``, an imported base applied, then the typed settings and the
pure planner's draft (no torch, no rendering). Whatever the CLI refuses comes back as its named problems."""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Iterable

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from render.config.issues import ConfigErrors, ConfigIssue
from render.config.plan import RenderPlan
from render.config.planner import plan_run
from render.config.presets import CONF_DIR, register_configs
from render.config.schema import Config
from render.config.settings import to_settings
from render.errors import user_message
from render.interop.apply import with_imported_settings
from render.run.resume import load_resume, parse_overrides, quote
from render.user_error import UserError

_HYDRA = threading.Lock()  # Hydra's compose keeps global state
RESERVED = {  # keys the studio sets itself, with what to use instead
    "hydra": "the studio gives every job its own folder under its home",
    "resume": "resume a job with POST /api/jobs/{id}/resume",
    "resume_from": "branch a job with POST /api/jobs/{id}/branch",
    "resume_retain": "branch a job with POST /api/jobs/{id}/branch (\"retain\": true)",
    "download": "download weights with python -m render.models on the server",
}


class JobRefused(UserError, ValueError):
    """A job the CLI would refuse: its problems in the CLI's words (the API's 422)."""

    def __init__(self, problems: list[dict]):
        self._problems = problems
        super().__init__("\n".join(f"{p['setting']}: {p['problem']}" for p in problems))

    def problems(self) -> list[dict]:
        return self._problems


def problems_of(exc: BaseException, overrides: Iterable[str] = ()) -> list[dict] | None:
    """The named problems of a user's failure (None: a bug)."""
    if isinstance(exc, UserError):
        return exc.problems()
    text = user_message(exc)
    if text is None:
        return None
    problem, _, fix = text.partition("\n    fix: ")
    problem = problem.split("\nConfig search path:")[0].strip()
    cause = exc.__cause__ or exc.__context__
    key = getattr(cause, "full_key", None)
    setting, value = _named_override(str(key) if key else problem, overrides, exact=key is not None)
    return [{"setting": str(key) if key else setting, "value": value, "problem": problem, "fix": fix.strip() or None}]


def _named_override(text: str, overrides: Iterable[str], exact: bool) -> tuple[str | None, str | None]:
    """The (key, value) of the override a Hydra message is about (``exact``: ``text`` is the key)."""
    for item in overrides:
        key, _, value = str(item).partition("=")
        key = key.lstrip("+~")
        if not key:
            continue
        if key == text if exact else (str(item) in text or f"'{key}" in text or key in text.split(":")[0]):
            return key, value
    return None, None


def check_overrides(overrides: Iterable[str]) -> list[str]:
    """The overrides, parsed as the CLI parses them; a malformed or reserved one is refused."""
    overrides = [str(o) for o in overrides]
    problems = []
    for item in overrides:
        try:
            parsed = parse_overrides([item])
        except Exception as exc:  # noqa: BLE001 - Hydra's OverrideParseException names the place
            problems.append({"setting": item.partition("=")[0] or item, "value": item, "problem":
                             f"not an override Hydra can parse ({str(exc).strip().splitlines()[0]})",
                             "fix": "write key=value as on the command line (quote values with spaces or "
                                    "brackets: key='a b')"})
            continue
        if item.startswith("-") or not parsed:
            problems.append({"setting": item, "value": item, "problem": "is not a key=value override",
                             "fix": "give settings as key=value, e.g. animation=3d_zoom seed=3"})
            continue
        key = parsed[0].key_or_group
        root = key.split(".")[0].split("/")[0]
        if root in RESERVED:
            problems.append({"setting": key, "value": item.partition("=")[2], "problem": "is set by the studio",
                             "fix": RESERVED[root]})
    if problems:
        raise JobRefused(problems)
    return overrides


def compose_config(overrides: list[str], *, hydra: bool = False) -> DictConfig:
    """``conf/config.yaml`` composed with the overrides, as ``python main.py`` composes it (``hydra``: with the
    ``hydra`` node)."""
    register_configs()
    with _HYDRA:
        GlobalHydra.instance().clear()
        try:
            with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
                return compose(config_name="config", overrides=overrides, return_hydra_config=hydra)
        finally:
            GlobalHydra.instance().clear()


def group_options() -> dict[str, list[str]]:
    """The config groups a job may choose from (Hydra's own left out) and their options."""
    register_configs()
    with _HYDRA:
        GlobalHydra.instance().clear()
        try:
            with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
                loader = GlobalHydra.instance().config_loader()
                return {group: sorted(loader.get_group_options(group)) for group in sorted(loader.list_groups(""))
                        if group != "hydra"}
        finally:
            GlobalHydra.instance().clear()


def job_settings(overrides: list[str], base_file: Path | None = None, run_dir: Path | None = None) -> Config:
    """The typed settings a job renders with: composed, with the imported base (``base_file``), or a resumed or
    branched run's own (``run_dir``, when the overrides hold ``resume``); raises :class:`JobRefused`."""
    given = list(overrides) + ([f"import_settings={quote(str(base_file))}"] if base_file is not None else [])
    try:
        cfg = compose_config(given)
        cfg, _ = with_imported_settings(cfg, given)
        if run_dir is not None:
            cfg, _ = load_resume(cfg, run_dir, given)
        return to_settings(cfg)
    except Exception as exc:  # noqa: BLE001 - named problems are the answer; a bug goes on up
        problems = problems_of(exc, given)
        if problems is None:
            raise
        raise JobRefused(problems) from None


def draft_plan(settings: Config) -> RenderPlan:
    """The pure planner's draft of the settings; raises :class:`JobRefused` with its problems."""
    try:
        return plan_run(settings)
    except ConfigErrors as exc:
        raise JobRefused(exc.problems()) from None


def refuse(setting: str, value: object, problem: str, fix: str) -> JobRefused:
    return JobRefused([ConfigIssue(setting, value, problem, fix).as_dict()])
