"""The download command: fetch weight files into the models folder and check their sha256.

    python -m render.models disco512                      # a preset: DD's default models
    python -m render.models ViT-L/14 RN50x4 --models-dir /data/models
    python -m render.models --list                        # what is known, what is present
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from render.models import registry
from render.models.download import ensure
from render.models.http_fetch import part_path, size_of
from render.models.registry import (
    PRESET_FILES,
    REGISTRY,
    ChangedModelFile,
    ChecksumMismatch,
    MissingModelFiles,
    ModelFile,
    UnverifiedModelFile,
    check_digest,
    first_use_record,
    is_noncommercial,
    resolve,
    resolve_models_dir,
    sha256_env_var,
    vouched_file,
)


def _human(n: int | None) -> str:
    if n is None:
        return "?"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return "?"  # unreachable


def file_status(file: ModelFile, folder: Path) -> str:
    """'present, …' or 'missing…' without hashing: a verdict comes from the sha256 sidecar when there is one."""
    path = folder / file.filename
    if not path.is_file():
        partial = size_of(part_path(path))
        return f"missing (partial: {_human(partial)})" if partial else "missing"
    digest = registry.cached_sha256(path)
    try:
        file = vouched_file(file, path)
    except UnverifiedModelFile:
        return f"present, NOT VERIFIABLE (${sha256_env_var(file)} is not a sha256)"
    if not (registry.has_hash(file) or file.sha256_unpublished):
        return "present, no hash known"
    if digest is None:
        return "present, not checked yet"
    try:
        check_digest(path, file, digest)
    except ChecksumMismatch:
        return "present, CORRUPT (sha256 mismatch)"
    except ChangedModelFile:
        return "present, CHANGED since its first use (sha256 differs from the recorded one)"
    if file.sha256_unpublished:
        recorded = first_use_record(path, file) is not None
        return "present, verified against its first use" if recorded else "present, prefix checked"
    return "present, verified"


def licence_notes(files: list[ModelFile]) -> list[str]:
    """A line for each file whose licence forbids commercial use."""
    return [f"note: {f.key} ({f.filename}) is licensed {f.license}: non-commercial use only"
            for f in files if is_noncommercial(f)]


def list_table(models_dir: str | os.PathLike | None = None) -> str:
    """The ``--list`` table: every registry key with its file, size and status, then the presets."""
    folder = resolve_models_dir(models_dir)
    rows = [("KEY", "KIND", "FILE", "SIZE", "STATUS")]
    for f in REGISTRY.values():
        path = folder / f.filename
        size = f.size if f.size is not None else (size_of(path) if path.is_file() else None)
        rows.append((f.key, f.kind, f.filename, _human(size), file_status(f, folder)))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [f"models folder: {folder}"]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[4] for r in rows]
    lines.append("presets: " + "; ".join(f"{k} = {' + '.join(v)}" for k, v in PRESET_FILES.items()))
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m render.models",
                                description="Download model files into the models folder and check their sha256.")
    p.add_argument("names", nargs="*", metavar="KEY", help="registry keys, aliases or presets (" +
                   ", ".join(PRESET_FILES) + ")")
    p.add_argument("--models-dir", help=f"models folder (default: ${registry.MODELS_DIR_ENV}, "
                   f"else {registry.DEFAULT_MODELS_DIR})")
    p.add_argument("--list", action="store_true", help="list every known file and whether it is present")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def main(argv: list[str] | None = None) -> int:
    """``python -m render.models``: 0 when every file is there and verifies, 1 when one is not, 2 on bad usage."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.list:
        print(list_table(args.models_dir))
        return 0
    if not args.names:
        parser.error("name at least one key or preset (see --list)")
    try:
        files = resolve(args.names)
    except KeyError as exc:
        parser.error(exc.args[0])
    for line in licence_notes(files):  # before a byte is fetched
        print(line)
    try:
        paths = ensure(files, args.models_dir, allow_download=True, progress=not args.no_progress)
    except (MissingModelFiles, ChecksumMismatch, UnverifiedModelFile) as exc:
        print(exc, file=sys.stderr)
        return 1
    for key, path in paths.items():
        print(f"{key}: {path}")
    return 0
