import os
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
