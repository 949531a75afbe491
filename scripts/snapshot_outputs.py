"""Write every user-facing output on the dev set to a folder, to compare two versions byte for byte.

    python scripts/snapshot_outputs.py --shared ../shared -o /tmp/before
    ... change the code ...
    python scripts/snapshot_outputs.py --shared ../shared -o /tmp/after
    diff -r /tmp/before /tmp/after && echo identical

Runs the real ``repotag`` commands (``tag``, ``prompt``, ``batch``, ``eval``) and a real
``repotag serve`` process, so it compares what users see, whatever the code inside.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPOTAG = [sys.executable, "-m", "repotag"]


def run(args: list[str], out: Path, stdin: bytes | None = None) -> None:
    """Run a command; keep its stdout, stderr and exit status."""
    done = subprocess.run(REPOTAG + args, input=stdin, capture_output=True, timeout=900)
    out.write_bytes(done.stdout + b"\n--- stderr ---\n" + done.stderr + f"\n--- exit {done.returncode}\n".encode())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_outputs(shared: Path, out: Path, readmes: list[dict], prompts: list[Path]) -> None:
    import httpx

    port = free_port()
    server = subprocess.Popen(REPOTAG + ["serve", "--port", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(base + "/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        lines = []
        with httpx.Client(base_url=base, timeout=60) as client:
            for row in readmes:
                reply = client.post("/v1/tag", json={"id": row["id"], "readme": row["readme"], "scores": True})
                lines.append(f"{reply.status_code} {reply.text}")
            reply = client.post("/v1/tag/batch", json={"items": readmes[:20]})
            lines.append(f"{reply.status_code} {reply.text}")
            for path in prompts:
                message = {"role": "user", "content": path.read_text(encoding="utf-8")}
                reply = client.post("/v1/chat/completions", json={"model": "repotag-default", "messages": [message]})
                body = reply.json()
                lines.append(f"{reply.status_code} {body['choices'][0]['message']['content'] if reply.is_success else body}")
            for path in ("/v1/taxonomy", "/v1/models"):
                reply = client.get(path)
                lines.append(f"{reply.status_code} {reply.text}")
        (out / "serve.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    finally:
        server.terminate()
        server.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("-o", "--out", type=Path, required=True)
    parser.add_argument("--no-serve", action="store_true", help="skip the HTTP service")
    args = parser.parse_args()
    out = args.out
    if out.exists():
        shutil.rmtree(out)
    (out / "tag").mkdir(parents=True)
    dev = args.shared / "data" / "dev"
    readmes = [json.loads(line) for line in open(dev / "readmes.jsonl", encoding="utf-8")]
    prompts = sorted((args.shared / "examples" / "prompts").glob("*.txt"))

    run(["batch", str(dev / "readmes.jsonl"), "-o", str(out / "batch.jsonl"), "--scores", "--workers", "2"],
        out / "batch.log")
    (out / "batch.log").write_text("exit status only\n" + (out / "batch.log").read_text().rsplit("---", 1)[-1])
    run(["eval", "default", str(dev / "labels.jsonl")], out / "eval.txt")
    for path in prompts:
        run(["prompt", str(path), "--scores"], out / f"prompt-{path.stem}.txt")
    for index, row in enumerate(readmes[:12]):
        run(["tag", "-", "--id", row["id"], "--scores"], out / "tag" / f"{index:03d}.txt", row["readme"].encode())
    if not args.no_serve:
        serve_outputs(args.shared, out, readmes, prompts)
    print(f"outputs written to {out}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
