"""One entry for every format: read the file, recognise its format from the content, map it."""
from __future__ import annotations

from pathlib import Path

from render.interop.deforum_settings import import_deforum
from render.interop.detect import DEFORUM, DISCO, OWN, PARSEQ, read_and_detect
from render.interop.disco_settings import import_disco
from render.interop.own_config import import_own
from render.interop.parseq_manifest import import_parseq
from render.interop.source import ImportContext, Imported

IMPORTERS = {DISCO: import_disco, DEFORUM: import_deforum, PARSEQ: import_parseq, OWN: import_own}


def import_file(path: Path | str, context: ImportContext = ImportContext()) -> Imported:
    """The settings of a DD, Deforum or Parseq file or of a run's config.yaml; raises ``ImportProblem``."""
    path = Path(path).expanduser()
    data, kind = read_and_detect(path)
    return IMPORTERS[kind](data, path, context)
