"""The app factory: ``create_app(config)`` gives the FastAPI app (its routers, guards and error answers), whose
lifespan opens the queue and runs the scheduler."""
from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from render.studio.auth import require_token, same_origin
from render.studio.body_limit import BodyLimit
from render.studio.checks import JobRefused
from render.studio.config import StudioConfig
from render.studio.executors import make_executor
from render.studio.jobs import Conflict, Jobs, NotFound
from render.studio.media import Songs
from render.studio.queue_db import JobQueue
from render.studio.routers import configs, events, files, jobs, page, sweeps
from render.studio.scheduler import Scheduler

log = logging.getLogger(__name__)


def _problems(request: Request, exc: JobRefused) -> JSONResponse:
    return JSONResponse({"problems": exc.problems()}, status_code=422)


def _invalid_body(request: Request, exc: RequestValidationError) -> JSONResponse:
    """A body of the wrong shape, in the same form as a config's problems."""
    problems = [{"setting": ".".join(str(p) for p in e.get("loc", ())[1:]) or "body", "value": e.get("input"),
                 "problem": e.get("msg", "invalid"), "fix": "see the request's schema at /docs"}
                for e in exc.errors()]
    return JSONResponse({"problems": jsonable_encoder(problems, custom_encoder={bytes: repr})}, status_code=422)


def create_app(config: StudioConfig, executor_options: list[str] = ()) -> FastAPI:
    config.home.mkdir(parents=True, exist_ok=True)
    config.runs_dir.mkdir(parents=True, exist_ok=True)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        queue = JobQueue(config.queue_path)
        scheduler = Scheduler(config, queue, make_executor(config.executor, config.home, list(executor_options)))
        app.state.jobs = Jobs(config, queue, scheduler)
        scheduler.start()
        try:
            yield
        finally:
            scheduler.shutdown()
            queue.close()

    app = FastAPI(title="disco-anim studio", lifespan=lifespan,
                  description="Queue renders, watch them, cancel, resume and branch them (README: Studio and API).",
                  dependencies=[Depends(require_token), Depends(same_origin)])
    app.state.config = config
    app.state.songs = Songs(config.media_roots)
    for router in (jobs.router, events.router, files.router, configs.router, sweeps.router, page.router):
        app.include_router(router)
    page.mount_static(app)
    app.add_exception_handler(JobRefused, _problems)
    app.add_exception_handler(RequestValidationError, _invalid_body)
    app.add_exception_handler(NotFound, lambda request, exc: JSONResponse({"detail": str(exc)}, status_code=404))
    app.add_exception_handler(Conflict, lambda request, exc: JSONResponse({"detail": str(exc)}, status_code=409))
    app.add_middleware(BodyLimit, max_bytes=config.max_body)
    return app
