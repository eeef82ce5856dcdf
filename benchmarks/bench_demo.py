"""The README demo, ``python main.py animation=3d_zoom`` (60 frames at 256x128 with the tiny networks offline), timed
end to end and broken down from its ``events.jsonl``: start-up (imports, plan, networks), the frames, and the end
(video, previews, quality); the median of N runs, with ``--against REV`` the same command of an older commit
(checked out into a temporary worktree) in the same run, and the ratio.

    python -m benchmarks.bench_demo                       # this tree, 5 runs
    python -m benchmarks.bench_demo --against 09d3d89     # and the commit before this work, alternated

Goal (issue "One plan, one resume, a start in a second"): <= 60 s wall, install excluded.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from benchmarks.common import ROOT, revision_tree

COMMAND = ["animation=3d_zoom"]
GOAL_S = 60.0


def run_demo(tree: Path, run_dir: Path) -> dict[str, float]:
    """One demo run in ``tree``: its wall seconds and, where the run writes events, the phases."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    started = time.time()
    result = subprocess.run([sys.executable, str(tree / "main.py"), *COMMAND, f"hydra.run.dir={run_dir}"],
                            cwd=run_dir.parent, env=env, capture_output=True, text=True, timeout=1800)
    ended = time.time()
    if result.returncode != 0:
        raise RuntimeError(f"{tree}: the demo exited {result.returncode}:\n{result.stderr[-3000:]}")
    phases = {"wall": ended - started}
    events_path = run_dir / "events.jsonl"
    if events_path.is_file():
        events = [json.loads(line) for line in events_path.read_text().splitlines() if line.strip()]
        first = next(e["time"] for e in events if e["event"] == "run_started")
        last_frame = max(e["time"] for e in events if e["event"] == "frame_done")
        phases.update({"start-up (imports, plan, networks)": first - started, "frames": last_frame - first,
                       "end (video, previews, quality)": ended - last_frame})
    record = json.loads((run_dir / "run.json").read_text())
    for stage in ("prepare", "generate", "save"):
        phases[f"  frames: {stage}"] = sum(f["seconds"].get(stage, 0.0) for f in record["frames"])
    return phases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--against", help="a git revision to time in the same run (the reference)")
    args = parser.parse_args(argv)
    ours, reference = [], []
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        ref_tree = stack.enter_context(revision_tree(args.against)) if args.against else None
        for i in range(args.repeats):  # alternated, so that both see the same machine
            ours.append(run_demo(ROOT, Path(tmp) / f"ours{i}"))
            if ref_tree is not None:
                reference.append(run_demo(ref_tree, Path(tmp) / f"ref{i}"))
    print(f"| phase | median s (this tree) | min-max s |{' reference median s |' if reference else ''}")
    print(f"|---|---|---|{'---|' if reference else ''}")
    for phase in ours[0]:
        times = [r[phase] for r in ours]
        row = f"| {phase} | {statistics.median(times):.1f} | {min(times):.1f}-{max(times):.1f} |"
        if reference:
            ref = [r[phase] for r in reference if phase in r]
            row += f" {statistics.median(ref):.1f} |" if ref else " |"
        print(row)
    wall = statistics.median(r["wall"] for r in ours)
    if reference:
        print(f"\nratio (reference / this tree, wall): {statistics.median(r['wall'] for r in reference) / wall:.2f}x")
    print(f"goal: <= {GOAL_S:g} s wall; {args.repeats} runs each; load average {os.getloadavg()[0]:.2f} at the end")
    return 0 if wall <= GOAL_S else 1


if __name__ == "__main__":
    sys.exit(main())
