"""Catalogue-scale benchmark: READMEs/s for 1 worker, 2 workers and Ray, and peak memory.

    python benchmarks/bench_batch.py --shared ../shared [--count 20000] [--memory-counts 20000 200000]

A synthetic corpus of --count READMEs is built by cycling the dev READMEs
(each copy gets its own id). Every configuration runs `repotag batch` as a
real subprocess on the same file; the speed-up of 2 workers is printed as a
ratio against 1 worker measured in the same run. Peak memory is the largest
resident set of any process of the run (the batch process or a worker),
measured on small READMEs at each of --memory-counts lines, to show it does
not grow with the input size.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

MEASURE = (
    "import resource, subprocess, sys\n"
    "done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)\n"
    "if done.returncode: sys.exit(done.stderr.decode()[-2000:])\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)


def run(arguments: list[str]) -> tuple[float, float]:
    """Seconds and peak RSS (MiB) of one `repotag batch` run."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", MEASURE, sys.executable, "-m", "repotag", "batch", *arguments],
                          capture_output=True, text=True, check=True)
    return time.perf_counter() - started, int(done.stdout.strip()) / 1024


def write_corpus(path: Path, rows: list[dict], count: int) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(count):
            row = rows[i % len(rows)]
            handle.write(json.dumps({"id": f"{row['id']}#{i}", "readme": row["readme"]}) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--memory-counts", type=int, nargs="*", default=[20_000, 200_000])
    parser.add_argument("--no-ray", action="store_true")
    args = parser.parse_args()

    with open(args.shared / "data" / "dev" / "readmes.jsonl", encoding="utf-8") as handle:
        dev = [json.loads(line) for line in handle]
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        corpus = work / "corpus.jsonl"
        write_corpus(corpus, dev, args.count)
        size_mb = corpus.stat().st_size / 2**20
        print(f"corpus: {args.count} READMEs from the dev set, {size_mb:.0f} MB")
        configurations = [("1 worker", ["--workers", "1"]), ("2 workers", ["--workers", "2"])]
        if not args.no_ray:
            configurations.append(("Ray, 2 actors", ["--engine", "ray", "--workers", "2"]))
        print("| engine | READMEs/s | vs 1 worker | peak RSS per process (MiB) |")
        print("|---|---|---|---|")
        baseline = None
        for index, (name, extra) in enumerate(configurations):
            seconds, peak = run([str(corpus), "-o", str(work / f"out{index}.jsonl"), *extra])
            rate = args.count / seconds
            baseline = baseline or rate
            print(f"| {name} | {rate:.1f} | {rate / baseline:.2f}x | {peak:.0f} |", flush=True)

        small = [{"id": f"org/tool-{i}", "readme": f"# tool-{i}\nA command-line tool number {i}."} for i in range(50)]
        print("\n| input lines (small READMEs, 2 workers) | READMEs/s | peak RSS per process (MiB) |")
        print("|---|---|---|")
        for count in args.memory_counts:
            path = work / f"small-{count}.jsonl"
            write_corpus(path, small, count)
            seconds, peak = run([str(path), "-o", str(work / f"small-out-{count}.jsonl"), "--workers", "2"])
            print(f"| {count} | {count / seconds:.1f} | {peak:.0f} |", flush=True)


if __name__ == "__main__":
    main()
