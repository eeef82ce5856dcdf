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


class PromptOut(BaseModel):
    text: str
    weight: float


class MixOut(BaseModel):
    text: list[PromptOut]
    images: list[PromptOut]
    weight: float


class ScheduleField(BaseModel):
    setting: str
    modes: list[str] = Field(description="the animation modes that use it")
    help: str
    default: str


class Presets(BaseModel):
    groups: dict[str, list[str]]
    schedules: list[ScheduleField] = Field(default_factory=list, description="every schedule setting")


class AudioOut(BaseModel):
    """A song as the renderer's analysis sees it: one value per video frame."""

    fps: float
    n_frames: int
    duration: float = Field(description="seconds analysed (from audio.offset)")
    bpm: float
    offset: float = Field(description="audio.offset: where in the song frame 0 is")
    beat_frames: list[int] = Field(description="the frames a beat falls on")
    b: list[float] = Field(description="the beat clock per frame (0 on the first beat, +1 a beat)")
    rms: list[float] = Field(description="loudness per frame, 0..1")
    onset: list[float] = Field(description="onset strength per frame, 0..1")
    url: str | None = Field(None, description="where the page may play the song (None: not served)")
    note: str = ""


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
    mode: str = Field("none", description="animation.mode")
    settings: dict[str, Any] = Field(default_factory=dict, description="every setting, flattened "
                                     "(animation.zoom, text_prompts, ...)")
    audio: AudioOut | None = Field(None, description="the song's analysis, with audio.path")


class PreviewIn(PlanIn):
    width: int = Field(512, ge=32, le=1024, description="the preview's width in pixels (its height keeps the "
                                                        "run's aspect)")
    start: int = Field(0, ge=0, description="the first frame to draw")
    count: int = Field(120, ge=1, le=600, description="how many frames to draw from start")


class PreviewOut(BaseModel):
    id: str = Field(description="the preview's key: the same config and size give the same id")
    n_frames: int
    fps: float
    width: int
    height: int
    start: int
    count: int
    frames: str = Field(description="each frame's URL, {n} its number (JPEG)")
    seconds: float = Field(description="time spent drawing the frames of this call (0: all were there)")
    picture: str = Field(description="what frame 0 shows: the init_image, or the test card")


MAX_AXES, MAX_VALUES, MAX_SWEEP_JOBS = 3, 12, 64


class SweepIn(JobIn):
    axes: dict[str, list[str]] = Field(description="up to three settings and the values each takes, e.g. "
                                                   "{\"seed\": [\"1\", \"2\"], \"animation.zoom\": "
                                                   "[\"0: (1.02)\", \"0: (1.05)\"]} (values as after key= on the "
                                                   "command line; ones with spaces are quoted for you): one job "
                                                   "per combination, at most 64")


class SweepJobOut(BaseModel):
    id: str
    values: dict[str, str] = Field(description="the value of each axis this job took")
    state: str | None = Field(None, description="the job's state (None: the job was deleted)")
    frames_done: int = 0
    n_frames: int | None = None
    rank: int | None = Field(None, description="1 = best by the gallery's ranking (completed jobs)")
    metrics: dict[str, float | None] = Field(default_factory=dict, description="the gallery's measures")
    image: str | None = Field(None, description="the job's GIF, contact sheet or last frame (its file URL)")
    report: str | None = None
    video: str | None = None


class SweepOut(BaseModel):
    id: str
    created: float
    overrides: list[str]
    axes: dict[str, list[str]]
    ranking: str = Field("", description="how the completed jobs are ranked")
    metrics: list[str] = Field(default_factory=list, description="the measures, in the gallery's order")
    jobs: list[SweepJobOut]
