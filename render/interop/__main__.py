"""``python -m render.interop convert <file> --out <yaml>`` and ``python -m render.interop export <run> --to ...``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from render.config.issues import ConfigErrors
from render.interop.export import export_run
from render.interop.importers import import_file
from render.interop.source import ImportContext, ImportProblem
from render.run.resume import ResumeError


def convert(source: Path, out: Path, context: ImportContext) -> str:
    """Write the file's settings as an editable YAML config with the mapping report as comments; returns the report's
    summary. The YAML is read back with ``import_settings=<yaml>``."""
    imported = import_file(source, context)
    header = "".join(f"# {line}\n" for line in imported.report.lines())
    usage = f"# Render with: python main.py import_settings={out}  (any override after it applies on top)\n"
    body = yaml.safe_dump(imported.nested(), sort_keys=False, allow_unicode=True, width=120)
    out.write_text(header + usage + body, encoding="utf-8")
    return imported.report.summary()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m render.interop", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    c = commands.add_parser("convert", help="a DD/Deforum/Parseq file as an editable YAML config")
    c.add_argument("file", type=Path)
    c.add_argument("--out", type=Path, required=True, help="the YAML file to write")
    c.add_argument("--mode", choices=["none", "2d", "3d", "video_input"], help="the animation mode (DD's files "
                   "have none)")
    c.add_argument("--seed", type=int, help="Deforum's s, where the file's seed is -1")
    c.add_argument("--max-frames", type=int, help="the frame count the schedules are read for")
    e = commands.add_parser("export", help="a run's schedules and prompts as a Parseq manifest or Deforum settings")
    e.add_argument("run_dir", type=Path)
    e.add_argument("--to", choices=["parseq", "deforum"], required=True)
    e.add_argument("--out", type=Path, help="the file to write (default: into the run dir)")
    args = parser.parse_args(argv)
    try:
        if args.command == "convert":
            print(convert(args.file, args.out, ImportContext(args.mode, args.seed, args.max_frames)))
            print(f"wrote {args.out}")
        else:
            path, report = export_run(args.run_dir, args.to, args.out)
            print("\n".join(report.lines()))
            print(f"wrote {path}")
    except ImportProblem as exc:
        print(f"error: {exc.key}: {exc.problem}\n    value: {exc.value!r}\n    fix: {exc.fix}", file=sys.stderr)
        return 2
    except (ConfigErrors, ResumeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {exc.filename or ''}: {exc.strerror or exc}\n    fix: check the path", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
