"""Where a job's ``python main.py`` process runs: a child of the server (``local``), or a submitit job (``slurm``,
``submitit-local``: the engine and the settings of the sweeps' ``hydra/launcher=slurm`` and ``=local``).

A local child runs in its own process group with a parent-death signal (SIGTERM: it stops after its current frame),
so a server killed even with SIGKILL leaves nothing rendering. After a restart a job is followed through its run dir:
the ``.lock`` of a live renderer, or, on a cluster, submitit's view of the job. Stopping a cluster job is asked
through its run dir (``stop.request``), which it reads after every frame, as a local child reads SIGTERM.
"""
from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Protocol

from omegaconf import OmegaConf

from render.run.lock import live_holder
from render.run.signals import STOP_REQUEST

log = logging.getLogger(__name__)
CODE_DIR = Path(__file__).resolve().parents[2]
JOB_LOG = "job.log"  # the job process's stdout and stderr, in its run dir
PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


class Handle(Protocol):
    """A job's process as the scheduler sees it."""

    name: str  # what the queue keeps to find it again (a pid, a submitit job id)
    adopted: bool  # found again after a restart (not started by this server)

    def alive(self) -> bool: ...

    def exit_code(self) -> int | None: ...

    def stop(self, started: bool) -> None: ...


def _die_with_parent(parent: int):
    """The child's last step before ``exec``: SIGTERM when the server's thread that started it dies."""
    def set_parent_death_signal() -> None:
        if _LIBC is not None:
            _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the server died before prctl took effect
            os._exit(143)
    return set_parent_death_signal


class ChildRun:
    """A local child process (``python main.py ...``) of this server."""

    adopted = False

    def __init__(self, command: list[str], run_dir: Path, env: dict[str, str]):
        with open(Path(run_dir) / JOB_LOG, "ab") as out:
            self.process = subprocess.Popen(command, cwd=CODE_DIR, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True,
                                            preexec_fn=_die_with_parent(os.getpid()))
        self.name = str(self.process.pid)

    def alive(self) -> bool:
        return self.process.poll() is None

    def exit_code(self) -> int | None:
        return self.process.poll()

    def stop(self, started: bool) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGTERM)  # the renderer and its ffmpeg, as Ctrl-C in a terminal
        except ProcessLookupError:
            pass


class LockedRun:
    """A job found again after a restart, followed through its run dir's lock (a renderer left by the last server,
    stopping after its frame, or a submitit-local job)."""

    adopted = True

    def __init__(self, run_dir: Path, name: str | None):
        self.run_dir, self.name = Path(run_dir), name or ""

    def alive(self) -> bool:
        return live_holder(self.run_dir) is not None

    def exit_code(self) -> int | None:
        return None

    def stop(self, started: bool) -> None:
        pid = live_holder(self.run_dir)
        if pid is not None:
            os.kill(pid, signal.SIGTERM)


class SubmititRun:
    """A submitit job running ``python main.py ...``; stopped through ``stop.request`` in its run dir (cancelled in
    the cluster's queue when it has not started yet)."""

    def __init__(self, job, run_dir: Path, adopted: bool = False):
        self.job, self.run_dir, self.adopted = job, Path(run_dir), adopted
        self.name = str(job.job_id)

    def alive(self) -> bool:
        return not self.job.done()

    def exit_code(self) -> int | None:
        return None

    def stop(self, started: bool) -> None:
        if started:
            (self.run_dir / STOP_REQUEST).touch()
        else:
            self.job.cancel(check=False)


def child_env(device: str | None) -> dict[str, str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if device is not None:
        env["CUDA_VISIBLE_DEVICES"] = device
    return env


class LocalExecutor:
    def start(self, command: list[str], run_dir: Path, device: str | None) -> Handle:
        return ChildRun(command, run_dir, child_env(device))

    def adopt(self, run_dir: Path, name: str | None) -> Handle:
        return LockedRun(run_dir, name)


class SubmititExecutor:
    """``slurm`` or ``submitit-local``, with the parameters of ``conf/hydra/launcher/<slurm|local>.yaml`` (and
    ``options``, given as ``key=value`` as after ``hydra.launcher.``)."""

    def __init__(self, kind: str, folder: Path, options: list[str] = ()):
        self.kind, self.folder = kind, Path(folder)
        self.cluster = "slurm" if kind == "slurm" else "local"
        self.parameters = launcher_parameters("slurm" if kind == "slurm" else "local", self.cluster, options)

    def _executor(self):
        import submitit

        executor = submitit.AutoExecutor(folder=str(self.folder / "%j"), cluster=self.cluster)
        executor.update_parameters(**self.parameters)
        return executor

    def start(self, command: list[str], run_dir: Path, device: str | None) -> Handle:
        from submitit.helpers import CommandFunction

        env = child_env(device if self.cluster == "local" else None)
        job = self._executor().submit(CommandFunction(command, cwd=str(CODE_DIR), env=env, verbose=False))
        return SubmititRun(job, run_dir)

    def adopt(self, run_dir: Path, name: str | None) -> Handle:
        if self.cluster == "slurm" and name:
            import submitit

            return SubmititRun(submitit.SlurmJob(folder=str(self.folder / "%j"), job_id=name), run_dir, adopted=True)
        return LockedRun(run_dir, name)


def launcher_parameters(preset: str, cluster: str, options: list[str] = ()) -> dict:
    """submitit's parameters from the sweeps' launcher preset, mapped as hydra-submitit-launcher maps them."""
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf

    from render.studio.checks import compose_config

    cfg = compose_config([f"hydra/launcher={preset}", *(f"hydra.launcher.{o}" for o in options)], hydra=True)
    params = OmegaConf.to_container(cfg.hydra.launcher, resolve=False)
    base = set(OmegaConf.structured(BaseQueueConf).keys())
    skip = {"_target_", "submitit_folder", "max_num_timeout", "name"}
    return {k if k in base else f"{cluster}_{k}": v for k, v in params.items() if k not in skip}


def make_executor(kind: str, home: Path, options: list[str] = ()):
    if kind == "local":
        return LocalExecutor()
    return SubmititExecutor(kind, Path(home) / "submitit", options)
