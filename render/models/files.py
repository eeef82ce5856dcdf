"""What a weight file is (``ModelFile``), the errors about files on disk, and the message that says how to get them."""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

from render.user_error import UserError

KINDS = ("diffusion", "secondary", "clip", "lpips", "depth", "flow")
MODELS_DIR_ENV = "DISCO_ANIM_MODELS"
SHA256_ENV_PREFIX = "DISCO_ANIM_SHA256_"  # + the key: the digest the user vouches for when none is published
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
    # No full sha256 is published: what is published (the prefix in the name, the size) is checked, and the full
    # digest is recorded at the file's first use beside it (``registry.record_path``); a later file that differs is
    # refused (ChangedModelFile). A digest in $DISCO_ANIM_SHA256_<KEY> (``sha256_env_var``) pins it instead.
    sha256_unpublished: bool = field(default=False)
    license: str | None = field(default=None)  # the weights' licence (SPDX id), where the catalog knows it

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
        if self.sha256_unpublished and self.sha256 is not None:
            raise ValueError(f"model file {self.key!r}: sha256_unpublished with a sha256")
        if "/" in self.filename or "\\" in self.filename or self.filename in ("", ".", ".."):
            raise ValueError(f"model file {self.key!r}: filename must be a plain file name, got {self.filename!r}")


class ChecksumMismatch(UserError, RuntimeError):
    """A file on disk is not the file the registry describes."""

    def __init__(self, path: Path, file: ModelFile, actual: str, size: int | None = None):
        self.path, self.file, self.actual, self.size = Path(path), file, actual, size
        self.expected = file.sha256 or f"{file.sha256_prefix}… (prefix)"
        sizes = f"\n  size:     {size} bytes, expected {file.size}" if size is not None else ""
        super().__init__(
            f"{self.path}: sha256 mismatch for model file {file.key!r}\n"
            f"  expected: {self.expected}\n"
            f"  actual:   {actual}{sizes}\n"
            f"The file is corrupt, truncated or a different file. {self.fix}"
        )

    @property
    def summary(self) -> str:
        """Both hashes (and the sizes, when they differ) on one line."""
        sizes = f"; {self.size} bytes, expected {self.file.size}" if self.size is not None else ""
        return f"expected sha256 {self.expected}, the file's is {self.actual}{sizes}"

    @property
    def fix(self) -> str:
        return (f"Delete it and download it again: rm {shlex.quote(str(self.path))} && python -m render.models "
                f"{shlex.quote(self.file.key)} --models-dir {shlex.quote(str(self.path.parent))}")


NONCOMMERCIAL_NOTE = " (non-commercial use only)"


def is_noncommercial(file: ModelFile) -> bool:
    """True for weights whose licence forbids commercial use (Creative Commons NC licences)."""
    return bool(file.license) and "-NC" in file.license.upper()


def sha256_env_var(file: ModelFile) -> str:
    """The environment variable that supplies the sha256 of a file the registry has none for:
    ``DISCO_ANIM_SHA256_`` + the key in capitals, other characters as ``_`` (dpt_hybrid_nyu ->
    ``DISCO_ANIM_SHA256_DPT_HYBRID_NYU``)."""
    return SHA256_ENV_PREFIX + re.sub(r"[^0-9A-Za-z]", "_", file.key).upper()


class UnverifiedModelFile(UserError, RuntimeError):
    """A registry file whose full sha256 is not published (``ModelFile.sha256_unpublished``) and for which
    ``$DISCO_ANIM_SHA256_<KEY>`` holds a value that is not a sha256 starting with the file's prefix: it is neither
    downloaded nor used."""

    def __init__(self, path: Path, file: ModelFile, supplied: str):
        self.path, self.file, self.supplied = Path(path), file, supplied
        self.env = sha256_env_var(file)
        prefix = f" starting with {file.sha256_prefix}" if file.sha256_prefix else ""
        self.problem = f"${self.env} is {supplied!r}: not a sha256 (64 hex digits){prefix}"
        src = f" (from {file.urls[0]})" if file.urls else ""
        must = f" (it must start with {file.sha256_prefix})" if file.sha256_prefix else ""
        self.fix = (f"if you trust a copy of the file{src}, put it at {self.path} and give its digest: export "
                    f"{self.env}=$(sha256sum {shlex.quote(str(self.path))} | cut -d' ' -f1){must}; it is then "
                    f"checked against that digest like any other file. Or unset {self.env}: the file's digest is "
                    f"then recorded at its first use. Or choose another model")
        super().__init__(f"{self.path}: {self.problem}\n    fix: {self.fix}")


class ChangedModelFile(UnverifiedModelFile):
    """A file without a published sha256 that differs from the one recorded at its first use in this models folder:
    refused, with the two ways to accept it (delete the record, or pin the digest)."""

    def __init__(self, path: Path, file: ModelFile, actual: str, record: Path, recorded: str, when: str | None):
        self.path, self.file, self.supplied = Path(path), file, None
        self.env, self.actual, self.record, self.recorded = sha256_env_var(file), actual, Path(record), recorded
        since = f" on {when}" if when else ""
        self.problem = (f"{file.filename} is not the file first used from this models folder: its sha256 is "
                        f"{actual}, the one recorded{since} in {self.record} is {recorded} (no full sha256 of "
                        f"{file.key!r} is published, so the first copy used is the reference)")
        target = shlex.quote(str(self.path.parent / file.filename))
        self.fix = (f"if you trust the new file, accept it: rm {shlex.quote(str(self.record))} (it is recorded again "
                    f"at its next use), or pin it: export {self.env}={actual}. If not, fetch the file again: "
                    f"rm {target} && {download_command([file], self.path.parent)}")
        RuntimeError.__init__(self, f"{self.path}: {self.problem}\n    fix: {self.fix}")


class MissingModelFiles(UserError, FileNotFoundError):
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
    if file.sha256_unpublished:
        sha = (f"not published{f' (starts with {file.sha256_prefix})' if file.sha256_prefix else ''}: recorded "
               f"at first use (or pinned in ${sha256_env_var(file)})")
    lines = [
        f"  - {file.key} ({file.kind}): {file.filename}",
        f"      put it at: {models_dir / file.filename}",
        f"      sha256:    {sha}",
        f"      size:      {size}",
    ]
    if file.license:
        lines.append(f"      licence:   {file.license}{NONCOMMERCIAL_NOTE if is_noncommercial(file) else ''}")
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
