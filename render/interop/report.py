"""The mapping report of an import: what was mapped, what was approximated and how, what was dropped and why."""
from __future__ import annotations

from dataclasses import dataclass, field

SECTIONS = (("mapped", "Mapped"), ("approximated", "Approximated"), ("dropped", "Dropped"), ("unknown", "Unknown keys"))


@dataclass(frozen=True)
class Entry:
    source: str  # the key (or keys) of the source file
    setting: str  # this renderer's setting it went to ("" when none)
    how: str = ""  # the conversion, the approximation or the reason it was dropped


@dataclass
class ImportReport:
    """Filled by an importer while it maps a file; rendered as Markdown (the run dir's ``import_report.md``) and as
    YAML comments (``python -m render.interop convert``)."""

    source: str  # the file
    format: str  # e.g. "Disco Diffusion v5.x settings"
    mapped: list[Entry] = field(default_factory=list)
    approximated: list[Entry] = field(default_factory=list)
    dropped: list[Entry] = field(default_factory=list)
    unknown: list[Entry] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def map(self, source: str, setting: str, how: str = "") -> None:
        self.mapped.append(Entry(source, setting, how))

    def approximate(self, source: str, setting: str, how: str) -> None:
        self.approximated.append(Entry(source, setting, how))

    def drop(self, source: str, why: str) -> None:
        self.dropped.append(Entry(source, "", why))

    def unknown_key(self, source: str) -> None:
        self.unknown.append(Entry(source, "", "not a key of this format that the importer knows; ignored"))

    def note(self, text: str) -> None:
        self.notes.append(text)

    def summary(self) -> str:
        counts = ", ".join(f"{len(getattr(self, name))} {name}" for name, _ in SECTIONS)
        return f"{self.source}: {self.format}: {counts}"

    def sections(self) -> list[tuple[str, list[Entry]]]:
        """``(title, entries)`` of every section that has entries."""
        return [(title, getattr(self, name)) for name, title in SECTIONS if getattr(self, name)]

    def lines(self) -> list[str]:
        """The report as plain lines (no Markdown markup beyond list dashes)."""
        out = [f"Imported {self.source} ({self.format})"]
        out += [f"note: {n}" for n in self.notes]
        for title, entries in self.sections():
            out.append(f"{title} ({len(entries)}):")
            for e in entries:
                target = f" -> {e.setting}" if e.setting else ""
                out.append(f"  - {e.source}{target}{f': {e.how}' if e.how else ''}")
        return out

    def markdown(self) -> str:
        out = [f"# Imported settings\n\n`{self.source}`: {self.format}\n"]
        out += [f"- {n}" for n in self.notes]
        for title, entries in self.sections():
            out.append(f"\n## {title} ({len(entries)})\n\n| source | setting | how |\n|---|---|---|")
            out += [f"| `{e.source}` | {f'`{e.setting}`' if e.setting else ''} | {e.how.replace('|', '/')} |"
                    for e in entries]
        return "\n".join(out) + "\n"
