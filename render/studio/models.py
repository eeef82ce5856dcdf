"""The API's bodies: what a request gives and what an answer holds (pydantic models; OpenAPI at ``/docs``)."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

MAX_OVERRIDES = 500
MAX_CONFIG_CHARS = 512 * 1024


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JobIn(Strict):
    overrides: list[str] = Field(default_factory=list, max_length=MAX_OVERRIDES,
                                 description="the CLI's overrides, e.g. [\"animation=3d_zoom\", \"seed=3\"]")
    config: str | None = Field(None, max_length=MAX_CONFIG_CHARS,
                               description="YAML text of a config (a run's config.yaml, or DD/Deforum/Parseq "
                                           "settings) as the base; the overrides apply on top")


class PlanIn(JobIn):
    song: bool = Field(True, description="analyse the config's song (audio.path) as the run will, so the values "
                                         "are the run's")


class ResumeIn(Strict):
    overrides: list[str] = Field(default_factory=list, max_length=MAX_OVERRIDES,
                                 description="changes a resume may make: output.*, animation.max_frames, device")


class BranchIn(Strict):
    frame: int = Field(ge=0, description="the first frame rendered again")
    overrides: list[str] = Field(default_factory=list, max_length=MAX_OVERRIDES)
    retain: bool = Field(False, description="keep the replaced frames in a folder of the run")


class MoveIn(Strict):
    position: int = Field(ge=0, description="the job's place in the queue, 0 = next")


class Problem(BaseModel):
    setting: str | None
    value: Any = None
    problem: str
    fix: str | None = None


class Problems(BaseModel):
    problems: list[Problem]


class JobError(BaseModel):
    message: str | None = None
    problems: list[Problem] | None = None
    code: int | None = None


class JobOut(BaseModel):
    id: str
    state: str = Field(description="queued, running, stopped, failed or completed")
    queue_position: int | None = Field(None, description="0 = next; None when not queued")
    overrides: list[str]
    run_dir: str
    frames_done: int
    n_frames: int | None
    eta_s: float | None = None
    step: dict | None = None
    error: JobError | None = None
    created: float
    started: float | None = None
    finished: float | None = None
    attempts: int = 0
    exit_code: int | None = None
    cancel_requested: bool = False


class Removed(BaseModel):
    id: str
    removed: bool = True
    run_dir_deleted: bool = False


class Presets(BaseModel):
    groups: dict[str, list[str]]


class PromptOut(BaseModel):
    text: str
    weight: float


class MixOut(BaseModel):
    text: list[PromptOut]
    images: list[PromptOut]
    weight: float


class PlanOut(BaseModel):
    n_frames: int | None
    width: int
    height: int
    fps: float
    seed: int | None
    schedules: dict[str, list[float]]
    prompts: list[list[MixOut]] = Field(description="per frame, the prompt sets it targets with their weights")
    resolved: list[str] = Field(description="what was resolved as the run resolves it (song, source video, camera)")
    note: str
    warnings: list[str] = []
