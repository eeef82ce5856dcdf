"""``python main.py --help``: Hydra's own help, made without its per-group copies of the config store."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SAME_TEXT = f"""
import contextlib, io, sys
sys.path.insert(0, {str(ROOT)!r})
from hydra._internal.hydra import Hydra
from hydra.core.global_hydra import GlobalHydra
from hydra._internal.utils import create_config_search_path, get_args_parser
from render.config.app_help import share_group_listings
from render.config.presets import CONF_DIR, register_configs

register_configs()

def help_text():
    GlobalHydra.instance().clear()
    parser = get_args_parser()
    args = parser.parse_args(["--help", "seed=3", "animation=2d_spin"])
    app = Hydra.create_main_hydra2(task_name="main", config_search_path=create_config_search_path(str(CONF_DIR)))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        app.app_help(config_name="config", args_parser=parser, args=args)
    return out.getvalue()

plain = help_text()
share_group_listings()
assert help_text() == plain, "the shared listings changed the help"
print(plain)
"""


def test_help_text_is_hydras_own():
    done = subprocess.run([sys.executable, "-c", SAME_TEXT], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "animation: " in done.stdout and "model: " in done.stdout and "seed: 3" in done.stdout


def test_main_help_lists_the_groups_and_the_config():
    done = subprocess.run([sys.executable, "main.py", "--help", "seed=3"], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    groups = done.stdout.split("== Configuration groups ==")[1].split("== Config ==")[0]
    assert "animation: " in groups and "3d_zoom" in groups and "model: " in groups and "tiny" in groups
    assert "seed: 3" in done.stdout and not done.stderr.strip()
