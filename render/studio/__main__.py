"""``python -m render.studio serve [--host H] [--port P] [--home DIR]`` and ``python -m render.studio submit
<overrides>`` (README: Studio and API)."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from render.studio.config import DEFAULT_HOME, DEFAULT_PORT, EXECUTORS, StudioConfig, is_loopback

TOKEN_ENV = "DISCO_STUDIO_TOKEN"


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m render.studio", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the job server")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (beyond loopback a token is required)")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT)
    serve.add_argument("--home", type=Path, default=DEFAULT_HOME, help="the queue and the run dirs")
    serve.add_argument("--token", default=os.environ.get(TOKEN_ENV), help=f"the API token (or ${TOKEN_ENV}); "
                       "generated and printed when binding beyond loopback without one")
    serve.add_argument("--workers", type=int, default=1, help="jobs at once on this machine (0: hold the queue)")
    serve.add_argument("--devices", default=None, help="one job per listed GPU, e.g. 0,1 (CUDA_VISIBLE_DEVICES)")
    serve.add_argument("--executor", choices=EXECUTORS, default="local",
                       help="local children, or submitit (slurm; submitit-local to try it on this machine)")
    serve.add_argument("--media", type=Path, action="append", default=[], metavar="FOLDER",
                       help="a folder whose songs the page may play (beside the home and the working folder)")
    serve.add_argument("--executor-option", action="append", default=[], metavar="KEY=VALUE",
                       help="a hydra/launcher setting for submitit, e.g. partition=gpu (repeatable)")
    submit = commands.add_parser("submit", help="submit a job to a running server and follow it")
    submit.add_argument("overrides", nargs="*", help="the CLI's overrides, e.g. animation=3d_zoom seed=3")
    submit.add_argument("--server", default=f"http://127.0.0.1:{DEFAULT_PORT}")
    submit.add_argument("--token", default=os.environ.get(TOKEN_ENV))
    submit.add_argument("--config", type=Path, help="a config file (YAML; DD, Deforum or Parseq settings) as the base")
    submit.add_argument("--no-follow", action="store_true", help="print the job id and return")
    return parser.parse_args(argv)


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from render.studio.app import create_app

    slots = tuple(d.strip() for d in args.devices.split(",")) if args.devices else (None,) * max(args.workers, 0)
    config = StudioConfig(home=args.home, host=args.host, port=args.port, token=args.token, slots=slots,
                          executor=args.executor, media=tuple(args.media)).with_token()
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")
    print(f"studio: http://{args.host}:{args.port} (the page at /, API docs at /docs), home {config.home}, "
          f"{len(slots)} job(s) at once, executor {config.executor}", file=sys.stderr)
    if config.token and config.token != args.token:
        print(f"token: {config.token}", file=sys.stderr)
    elif not is_loopback(args.host):
        print("token: the one given", file=sys.stderr)
    uvicorn.run(create_app(config, args.executor_option), host=args.host, port=args.port, log_level="warning")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    if args.command == "serve":
        return serve(args)
    from render.studio.client import submit

    return submit(args.server, args.overrides, token=args.token, config=args.config, follow=not args.no_follow)


if __name__ == "__main__":
    sys.exit(main())
