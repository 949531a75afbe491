"""Wall time of one `repotag tag README` CLI call, this tree against an earlier revision, same machine, same run.

    python benchmarks/bench_startup.py [--baseline-ref 8960499] [--runs 7]

The earlier revision is checked out into a temporary git worktree and run with
the same Python; each call is a fresh process, as a user's would be. Prints the
median and best wall time of each, and their ratio.
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

ROOT = Path(__file__).resolve().parents[1]
README = "# ripgrep\nripgrep is a line-oriented search tool that recursively searches directories for a regex.\n"


def wall_times(source: Path, readme: Path, runs: int) -> list[float]:
    env = {**os.environ, "PYTHONPATH": str(source)}
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "repotag", "tag", str(readme)], env=env, capture_output=True)
        times.append(time.perf_counter() - started)
        if done.returncode:
            raise SystemExit(done.stderr.decode())
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline-ref", default="8960499", help="git revision to compare with")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        readme = Path(scratch) / "README.md"
        readme.write_text(README)
        baseline = Path(scratch) / "baseline"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(baseline), args.baseline_ref],
                       check=True, capture_output=True)
        try:
            rows = [("this tree", wall_times(ROOT / "src", readme, args.runs)),
                    (f"baseline {args.baseline_ref}", wall_times(baseline / "src", readme, args.runs))]
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(baseline)], capture_output=True)
    print("| CLI `repotag tag README.md` | median wall s | best wall s |\n|---|---|---|")
    for label, times in rows:
        print(f"| {label} | {statistics.median(times):.2f} | {min(times):.2f} |")
    print(f"\nspeed-up (median): {statistics.median(rows[1][1]) / statistics.median(rows[0][1]):.1f}x")


if __name__ == "__main__":
    main()
