"""A persistent cache of LLM answers (SQLite): a re-run or a resumed batch does not pay twice."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

from .._errors import BackendError, ConfigError


def default_cache_path() -> Path:
    """``$XDG_CACHE_HOME/repotag/llm-answers.sqlite3`` (``~/.cache`` without the variable)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "repotag" / "llm-answers.sqlite3"


class AnswerCache:
    """Answers by request key. Safe across threads, and across processes through SQLite's own locking."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Batch workers are separate processes sharing the file: WAL lets readers
            # go on while one writes, and the timeout waits out another's write.
            self._db = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, model TEXT, content TEXT, created REAL)"
            )
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"cannot open the LLM answer cache {path}: {exc}; choose another with --llm-cache "
                              "or pass --no-cache") from None

    def get(self, key: str) -> str | None:
        row = self._run("SELECT content FROM answers WHERE key = ?", (key,))
        return row[0] if row else None

    def put(self, key: str, model: str, content: str) -> None:
        self._run("INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?)", (key, model, content, time.time()))

    def _run(self, statement: str, values: tuple) -> tuple | None:
        """One statement; a failing cache (full disk, locked too long) fails that README, retryably."""
        try:
            with self._lock:
                return self._db.execute(statement, values).fetchone()
        except sqlite3.Error as exc:
            raise BackendError(f"the LLM answer cache {self.path} failed: {exc}") from None

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
