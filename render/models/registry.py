"""Model files: what each weight file is, where it comes from, where it lives and whether it is intact.

``REGISTRY`` holds every file of ``render.models.catalog`` (and any registered later). ``render.models.download.ensure`` is what the
renderer calls before it builds a model; it fetches missing files (``python -m render.models disco512``).

A file whose full sha256 is not published (``ModelFile.sha256_unpublished``) is checked against what is published
(the size; the torch.hub convention: the hex digits in its name start its sha256), and its full digest is recorded at
its first check in ``<file>.sha256-first-use`` beside it; from then on a file that differs is refused
(``ChangedModelFile``) until the record is deleted or a digest is pinned in ``$DISCO_ANIM_SHA256_<KEY>``.
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import logging
import os
import time
from pathlib import Path
from typing import Iterable

from render.disk.atomic import atomic_open
from render.disk.hashing import sha256_file
from render.models.catalog import ALIASES, ALL_FILES, PRESET_FILES
from render.models.files import (  # noqa: F401
    HEX64,
    KINDS,
    MODELS_DIR_ENV,
    ChangedModelFile,
    ChecksumMismatch,
    MissingModelFiles,
    ModelFile,
    UnverifiedModelFile,
    describe_missing,
    download_command,
    is_noncommercial,
    missing_files_message,
    sha256_env_var,
)

log = logging.getLogger(__name__)

DEFAULT_MODELS_DIR = Path("~/.cache/disco-anim/models")
SIDECAR_SUFFIX = ".sha256"
RECORD_SUFFIX = ".sha256-first-use"

REGISTRY: dict[str, ModelFile] = {f.key: f for f in ALL_FILES}


def register(file: ModelFile, *, replace: bool = False) -> ModelFile:
    """Add a file to ``REGISTRY`` (a custom model, a test); an existing key needs ``replace=True``."""
    if file.key in REGISTRY and not replace and REGISTRY[file.key] != file:
        raise ValueError(f"model file {file.key!r} is already registered; pass replace=True to change it")
    if file.key in ALIASES or file.key in PRESET_FILES:
        raise ValueError(f"model file key {file.key!r} is already used as an alias or preset name")
    REGISTRY[file.key] = file
    return file


def openclip_key(arch: str, tag: str) -> str:
    """The registry key of ``open_clip.create_model(arch, pretrained=tag)``'s weight file."""
    return lookup(f"{arch}/{tag}").key


def lookup(name: str) -> ModelFile:
    """The file with this key or alias; an unknown name raises KeyError with close matches."""
    key = ALIASES.get(name, name)
    if key in REGISTRY:
        return REGISTRY[key]
    known = list(REGISTRY) + list(ALIASES) + list(PRESET_FILES)
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else "; `python -m render.models --list` shows them all"
    raise KeyError(f"unknown model file or preset {name!r}{hint}")


def resolve(names: Iterable[str | ModelFile]) -> list[ModelFile]:
    """Keys, aliases, preset names or ModelFiles to a list of files without duplicates, in order."""
    files: dict[str, ModelFile] = {}
    for name in names:
        if isinstance(name, ModelFile):
            expanded = [name]
        elif name in PRESET_FILES:
            expanded = [lookup(k) for k in PRESET_FILES[name]]
        else:
            expanded = [lookup(name)]
        for f in expanded:
            files.setdefault(f.key, f)
    return list(files.values())


# ---------------------------------------------------------------------------------------------------------------
# Where files live


def resolve_models_dir(setting: str | os.PathLike | None = None) -> Path:
    """The models folder: the setting when given, else ``$DISCO_ANIM_MODELS``, else ``~/.cache/disco-anim/models``."""
    if setting not in (None, ""):
        return Path(setting).expanduser()
    env = os.environ.get(MODELS_DIR_ENV, "").strip()
    return Path(env).expanduser() if env else DEFAULT_MODELS_DIR.expanduser()


def target_path(file: ModelFile, models_dir: str | os.PathLike | None = None) -> Path:
    """Where ``file`` belongs: ``<models_dir>/<filename>``."""
    return resolve_models_dir(models_dir) / file.filename


def find(file: ModelFile, models_dir: str | os.PathLike | None = None) -> Path | None:
    """The path of ``file`` in the models folder, or None when it is not there (nothing is hashed)."""
    path = target_path(file, models_dir)
    return path if path.is_file() else None


# ---------------------------------------------------------------------------------------------------------------
# Integrity


def sidecar_path(path: Path) -> Path:
    return Path(path).with_name(Path(path).name + SIDECAR_SUFFIX)


def _stat_key(path: Path) -> dict:
    st = Path(path).stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def cached_sha256(path: Path) -> str | None:
    """The digest recorded in the sidecar if it still describes the file (same size and mtime), else None."""
    try:
        record = json.loads(sidecar_path(path).read_text(encoding="utf-8"))
        if {k: record.get(k) for k in ("size", "mtime_ns")} == _stat_key(path) and HEX64.fullmatch(record["sha256"]):
            return record["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def write_sidecar(path: Path, digest: str) -> None:
    """Record ``digest`` for the file as it is now; a read-only models folder only costs a re-hash next time."""
    try:
        with atomic_open(sidecar_path(path), "w") as fh:
            json.dump({**_stat_key(path), "sha256": digest}, fh)
    except OSError as exc:
        log.debug("could not write %s: %s", sidecar_path(path), exc)


def file_sha256(path: Path) -> str:
    """The sha256 of ``path``, from its sidecar when the file is unchanged, else hashed once and recorded."""
    digest = cached_sha256(path)
    if digest is None:
        log.info("checking sha256 of %s", path)
        digest = sha256_file(path)
        write_sidecar(path, digest)
    return digest


def has_hash(file: ModelFile) -> bool:
    return bool(file.sha256 or file.sha256_prefix)


def vouched_file(file: ModelFile, path: Path) -> ModelFile:
    """``file`` as it is checked: for a file without a published sha256 (``sha256_unpublished``) and a digest pinned
    in ``$DISCO_ANIM_SHA256_<KEY>``, the file with that sha256 (UnverifiedModelFile, naming ``path``, when the value
    is not a sha256 starting with the file's prefix). Other files, and unpinned ones, are returned as they are."""
    if not file.sha256_unpublished:
        return file
    supplied = os.environ.get(sha256_env_var(file), "").strip()
    if not supplied:
        return file
    digest = supplied.lower()
    if not HEX64.fullmatch(digest) or (file.sha256_prefix and not digest.startswith(file.sha256_prefix)):
        raise UnverifiedModelFile(path, file, supplied)
    return dataclasses.replace(file, sha256=digest, sha256_unpublished=False)


def record_path(path: Path, file: ModelFile) -> Path:
    """Where the sha256 of ``file``'s first use is recorded: beside it in the folder of ``path`` (the file or its
    ``.part``)."""
    return Path(path).parent / (file.filename + RECORD_SUFFIX)


def first_use_record(path: Path, file: ModelFile) -> dict | None:
    """The record of ``file``'s first use in the folder of ``path`` (``sha256``, ``size``, ``recorded``), or None."""
    try:
        record = json.loads(record_path(path, file).read_text(encoding="utf-8"))
        if HEX64.fullmatch(record["sha256"]):
            return record
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def keep_first_use(path: Path, file: ModelFile, digest: str) -> None:
    """Record ``digest`` as ``file``'s reference in its models folder unless a record is there already."""
    if first_use_record(path, file) is not None:
        return
    record = {"key": file.key, "filename": file.filename, "sha256": digest, "size": Path(path).stat().st_size,
              "recorded": time.strftime("%Y-%m-%d %H:%M:%S %z")}
    try:
        with atomic_open(record_path(path, file), "w") as fh:
            json.dump(record, fh, indent=1)
        log.info("%s: no sha256 of %r is published; recorded this copy's, %s, in %s", path, file.key, digest,
                 record_path(path, file))
    except OSError as exc:
        log.warning("%s: could not record its sha256 in %s (%s); it is checked against its name's prefix only",
                    path, record_path(path, file), exc.strerror or exc)


def check_digest(path: Path, file: ModelFile, actual: str) -> None:
    """Raise ChecksumMismatch when ``actual`` is not ``file``'s sha256 (or does not start with its prefix), and
    ChangedModelFile when ``file`` has no published sha256 and ``actual`` is not the one recorded at its first use."""
    if file.sha256 is not None and actual != file.sha256:
        raise ChecksumMismatch(path, file, actual)
    if file.sha256 is None and file.sha256_prefix and not actual.startswith(file.sha256_prefix):
        raise ChecksumMismatch(path, file, actual)
    record = first_use_record(path, file) if file.sha256_unpublished else None
    if record is not None and record["sha256"] != actual:
        raise ChangedModelFile(path, file, actual, record_path(path, file), record["sha256"], record.get("recorded"))


def verify(path: Path, file: ModelFile) -> bool:
    """Check ``path`` against ``file``'s hash; True when checked, False when no hash is known (logged).

    The digest is cached in ``<path>.sha256`` keyed by size and mtime, so a big file is hashed once. A file whose
    sha256 is not published is checked against its prefix and size and its digest is recorded at its first check
    (``keep_first_use``); a later file that differs is refused (``ChangedModelFile``), unless a digest is pinned
    (``vouched_file``).
    """
    path = Path(path)
    file = vouched_file(file, path)
    size = path.stat().st_size
    if file.size is not None and size != file.size:  # hashed all the same, so that the error names both digests
        raise ChecksumMismatch(path, file, file_sha256(path), size)
    if not (has_hash(file) or file.sha256_unpublished):
        log.warning("%s: no sha256 is known for model file %r; not verified", path, file.key)
        return False
    if file.sha256 is None and file.sha256_prefix and not file.sha256_unpublished:
        log.info("%s: only the sha256 prefix %s is published for %r; checking that", path, file.sha256_prefix, file.key)
    digest = file_sha256(path)
    check_digest(path, file, digest)
    if file.sha256_unpublished:
        keep_first_use(path, file, digest)
    return True
