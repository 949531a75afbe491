import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("REPOTAG_SHARED_DATA", ROOT.parent / "shared"))


@pytest.fixture(scope="session")
def tagger():
    """The embedded default model, loaded once for the whole run."""
    from repotag import Tagger

    return Tagger.load()


@pytest.fixture(scope="session")
def shared() -> Path:
    """The project's shared data folder (read-only); tests that need it skip without it."""
    if not (SHARED / "examples" / "prompts").is_dir():
        pytest.skip(f"shared data not found at {SHARED} (set REPOTAG_SHARED_DATA)")
    return SHARED


def make_prompt(readme: str, record_id='"42"', limit: int = 3, tags: str | None = None) -> str:
    """A prompt in the exact format users send to LLMs."""
    tags = tags or '[{"id":17,"name":"ai"},{"id":4,"name":"cli"},{"id":81,"name":"game-engine "}]'
    return (
        f"AI prompts\nbase on {readme}\n\", Assign \"at most {limit} tags\" to the expected json: "
        f'{{"id":{record_id},"tags":[]}} "only from the tags list I provide: {tags}" returns me the "expected json"'
    )


# ---- a scripted LLM server (tests/llm_server.py) ----
LLM_SERVER = Path(__file__).with_name("llm_server.py")


def answer(*tags) -> dict:
    """A scripted response: a chat completion whose answer names ``tags``."""
    return {"content": json.dumps({"tags": list(tags)})}


class FixtureLLM:
    """A running tests/llm_server.py process and its request log."""

    def __init__(self, tmp_path: Path, script: dict):
        self.log = tmp_path / "llm-requests.jsonl"
        path = tmp_path / "llm-script.json"
        path.write_text(json.dumps(script))
        self.process = subprocess.Popen([sys.executable, str(LLM_SERVER), str(path), "--log", str(self.log)],
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.url = f"http://127.0.0.1:{self.process.stdout.readline().strip()}/v1"

    def requests(self) -> list[dict]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


@pytest.fixture
def llm_server(tmp_path):
    """Start scripted LLM servers (``llm_server(script)``); they are stopped after the test."""
    started = []

    def start(script: dict) -> FixtureLLM:
        server = FixtureLLM(tmp_path, script)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
