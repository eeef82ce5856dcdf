"""What a weight file is (``ModelFile``), the errors about files on disk, and the message that says how to get them."""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

KINDS = ("diffusion", "secondary", "clip", "lpips", "depth", "flow")
MODELS_DIR_ENV = "DISCO_ANIM_MODELS"
HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX_PREFIX = re.compile(r"[0-9a-f]{6,63}")


@dataclass(frozen=True)
class ModelFile:
    """One weight file. ``urls`` are tried in order; ``sha256``/``size`` are None when not published."""

    key: str
    filename: str
    sha256: str | None
    size: int | None
    urls: tuple[str, ...]
    kind: str
    description: str
    sha256_prefix: str | None = field(default=None)  # the short hash some hosts put in file names

    def __post_init__(self):
        object.__setattr__(self, "urls", tuple(self.urls))
        if self.kind not in KINDS:
            raise ValueError(f"model file {self.key!r}: kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if self.sha256 is not None and not HEX64.fullmatch(self.sha256):
            raise ValueError(f"model file {self.key!r}: sha256 must be 64 lowercase hex digits, got {self.sha256!r}")
        if self.sha256_prefix is not None and not _HEX_PREFIX.fullmatch(self.sha256_prefix):
            raise ValueError(f"model file {self.key!r}: sha256_prefix must be hex, got {self.sha256_prefix!r}")
        if self.sha256 and self.sha256_prefix and not self.sha256.startswith(self.sha256_prefix):
            raise ValueError(f"model file {self.key!r}: sha256 does not start with sha256_prefix")
        if "/" in self.filename or "\\" in self.filename or self.filename in ("", ".", ".."):
            raise ValueError(f"model file {self.key!r}: filename must be a plain file name, got {self.filename!r}")


class ChecksumMismatch(RuntimeError):
    """A file on disk is not the file the registry describes."""

    def __init__(self, path: Path, file: ModelFile, actual: str):
        self.path, self.file, self.actual = Path(path), file, actual
        expected = file.sha256 or f"{file.sha256_prefix}… (prefix)"
        super().__init__(
            f"{self.path}: sha256 mismatch for model file {file.key!r}\n"
            f"  expected: {expected}\n"
            f"  actual:   {actual}\n"
            f"The file is corrupt, truncated or a different file. Delete it and download it again:\n"
            f"  rm {shlex.quote(str(self.path))}\n"
            f"  python -m render.models {shlex.quote(file.key)} --models-dir {shlex.quote(str(self.path.parent))}"
        )


class MissingModelFiles(FileNotFoundError):
    """Model files that are not on disk and could not be downloaded; the message says how to get each one."""

    def __init__(self, files: list[ModelFile], models_dir: Path, reasons: Mapping[str, str] | None = None):
        self.files, self.models_dir, self.reasons = list(files), Path(models_dir), dict(reasons or {})
        super().__init__(missing_files_message(self.files, self.models_dir, self.reasons))


def download_command(files: Iterable[ModelFile], models_dir: Path) -> str:
    keys = " ".join(shlex.quote(f.key) for f in files)
    return f"python -m render.models {keys} --models-dir {shlex.quote(str(models_dir))}"


def describe_missing(file: ModelFile, models_dir: Path, reason: str | None = None) -> list[str]:
    """The lines of the missing-files message for one file."""
    size = f"{file.size} bytes" if file.size is not None else "unknown"
    sha = file.sha256 or (f"unknown (starts with {file.sha256_prefix})" if file.sha256_prefix else "unknown")
    lines = [
        f"  - {file.key} ({file.kind}): {file.filename}",
        f"      put it at: {models_dir / file.filename}",
        f"      sha256:    {sha}",
        f"      size:      {size}",
    ]
    lines += [f"      {'from:' if i == 0 else '     '}      {url}" for i, url in enumerate(file.urls)]
    if not file.urls:
        lines.append("      from:      (no known URL; see the description) " + file.description)
    if reason:
        lines += ["      download failed:"] + [f"        {line}" for line in reason.splitlines()]
    return lines


def missing_files_message(files: list[ModelFile], models_dir: Path, reasons: Mapping[str, str]) -> str:
    n = len(files)
    how = "downloading failed" if reasons else "downloading is off"
    lines = [f"{n} model file{'s are' if n != 1 else ' is'} missing from {models_dir} ({how}):"]
    for f in files:
        lines += describe_missing(f, models_dir, reasons.get(f.key))
    lines += [
        "Download them with:",
        f"  {download_command(files, models_dir)}",
        f"or fetch each URL yourself (any one of a file's URLs) and put the file at the path shown. To use another "
        f"folder, set the models directory setting or ${MODELS_DIR_ENV}.",
    ]
    return "\n".join(lines)
