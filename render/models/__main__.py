"""``python -m render.models``: the download command (render/models/cli.py)."""
import logging
import sys

from render.models.cli import main

logging.basicConfig(level=logging.INFO, format="%(message)s")
sys.exit(main())
