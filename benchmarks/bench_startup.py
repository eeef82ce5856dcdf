"""How fast the CLI answers: ``python main.py --help``, a misspelled key and a broken schedule (both named, exit
status 2), each the median of N runs; with ``--against REV`` the same commands of an older commit (checked out into a
temporary worktree) in the same run, and the ratio.

    python -m benchmarks.bench_startup                    # this tree, 5 repeats
    python -m benchmarks.bench_startup --against 09d3d89  # and the commit before the fast start

Goals (issue "One plan, one resume, a start in a second"): --help <= 1.5 s, a named config error <= 2.5 s.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import ROOT, revision_tree

CASES = {
    "--help": (["--help"], 0, "Powered by Hydra"),
    "misspelled key": (["animation.zoomm=1.05"], 2, "did you mean animation.zoom?"),
    "broken schedule": (["animation=2d_zoom", "animation.zoom='0: (1'"], 2, "animation.zoom"),
}
GOALS = {"--help": 1.5, "misspelled key": 2.5, "broken schedule": 2.5}


def time_case(tree: Path, args: list[str], code: int, expect: str) -> float:
    """Wall seconds of one ``python main.py args`` in ``tree``; checks its exit status and output."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    with tempfile.TemporaryDirectory() as cwd:  # the run dir of a command that got that far stays out of the tree
        started = time.perf_counter()
        result = subprocess.run([sys.executable, str(tree / "main.py"), *args, f"hydra.run.dir={cwd}/run"]
                                if args != ["--help"] else [sys.executable, str(tree / "main.py"), *args],
                                cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
        seconds = time.perf_counter() - started
    named = tree != ROOT or expect in result.stdout + result.stderr  # an older tree words its messages its own way
    if result.returncode != code or not named:
        raise RuntimeError(f"{tree}: main.py {' '.join(args)} exited {result.returncode}, expected {code} with "
                           f"{expect!r}:\n{result.stderr[-2000:]}")
    return seconds


def measure(tree: Path, repeats: int) -> dict[str, list[float]]:
    time_case(tree, *CASES["--help"])  # warm the file cache once
    return {name: [time_case(tree, *case) for _ in range(repeats)] for name, case in CASES.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--against", help="a git revision to time in the same run (the reference)")
    args = parser.parse_args(argv)
    ours = measure(ROOT, args.repeats)
    reference = None
    if args.against:
        with revision_tree(args.against) as tree:
            reference = measure(tree, args.repeats)
    print(f"| case | median s | min-max s | goal s |{' reference median s | ratio |' if reference else ''}")
    print(f"|---|---|---|---|{'---|---|' if reference else ''}")
    for name, times in ours.items():
        median = statistics.median(times)
        row = f"| {name} | {median:.2f} | {min(times):.2f}-{max(times):.2f} | {GOALS[name]} |"
        if reference:
            ref = statistics.median(reference[name])
            row += f" {ref:.2f} | {ref / median:.1f}x |"
        print(row)
    print(f"\n{args.repeats} repeats each; load average {os.getloadavg()[0]:.2f} at the end")
    return 0 if all(statistics.median(t) <= GOALS[n] for n, t in ours.items()) else 1


if __name__ == "__main__":
    sys.exit(main())
