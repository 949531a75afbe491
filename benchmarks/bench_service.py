"""Load benchmark of the HTTP service with wrk on loopback: req/s and p50/p99 latency.

    apt-get install wrk            # the load generator
    python benchmarks/bench_service.py --shared ../shared [--duration 20]

For 1 and 2 server workers (`repotag serve --workers N`), wrk posts one
typical README (the dev README of median length) to POST /v1/tag: first with
one connection (latency of a lone request), then with 4 connections
(throughput under load). Only 127.0.0.1 is used; every run stops by itself.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("server did not become healthy")


def to_ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]


def wrk(url: str, script: Path, connections: int, duration: int) -> dict:
    output = subprocess.run(
        ["wrk", "-t", str(min(2, connections)), "-c", str(connections), "-d", f"{duration}s", "--latency",
         "-s", str(script), url + "/v1/tag"], capture_output=True, text=True, check=True,
    ).stdout
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", output, re.MULTILINE))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50": to_ms(percentiles["50"]),
        "p99": to_ms(percentiles["99"]),
        "errors": int(non_2xx.group(1)) if non_2xx else 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--duration", type=int, default=20)
    args = parser.parse_args()

    with open(args.shared / "data" / "dev" / "readmes.jsonl", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    median = statistics.median_low(len(r["readme"]) for r in rows)
    typical = next(r for r in rows if len(r["readme"]) == median)
    body = json.dumps({"id": typical["id"], "readme": typical["readme"]})
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "post.lua"
        script.write_text(
            'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
            f"wrk.body = {json.dumps(body)}\n"
        )
        print(f"typical README: {typical['id']}, {len(typical['readme'])} characters; {args.duration}s per run")
        print("| server workers | connections | req/s | p50 (ms) | p99 (ms) | non-2xx |")
        print("|---|---|---|---|---|---|")
        for workers in (1, 2):
            port = free_port()
            server = subprocess.Popen(
                [sys.executable, "-m", "repotag", "serve", "--port", str(port), "--workers", str(workers)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            try:
                url = f"http://127.0.0.1:{port}"
                wait_healthy(url)
                wrk(url, script, 2, 3)  # warm-up
                for connections in (1, 4):
                    r = wrk(url, script, connections, args.duration)
                    print(f"| {workers} | {connections} | {r['rps']:.1f} | {r['p50']:.1f} | {r['p99']:.1f} | "
                          f"{r['errors']} |", flush=True)
            finally:
                server.terminate()
                server.wait(timeout=30)


if __name__ == "__main__":
    main()
