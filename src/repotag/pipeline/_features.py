"""Features: turning cleaned READMEs into vectors.

Two views of a document are combined: a MiniLM sentence embedding of its
opening (what the project is, in meaning), run through ONNX Runtime with int8
weights so no torch is needed, and TF-IDF word n-grams of the cleaned text
(the exact vocabulary: "kubernetes", "orm", "wasm").
"""

from __future__ import annotations

import contextvars
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    import numpy as np

from .. import _deadline as deadline
from .._errors import ModelError
from ._cleaning import CJK_README_SHARE, cjk_share, clean_readme
from ._glossary import drop_han, gloss_chinese, has_han

#: Most encoder runs side by side in one process (beyond the cores they only queue).
MAX_PARALLEL_RUNS = 8
#: Tokens of each document the sentence encoder reads; 128 is 3.5x faster than 256
#: at a small cost in accuracy (see docs/model-card.md).
DEFAULT_MAX_TOKENS = 128

_CAMEL = re.compile(r"([a-z0-9])([A-Z])")
_SEPARATORS = re.compile(r"[-_.]+")


_README_FILE = re.compile(r"^readme(\.[a-z0-9]+)*$", re.IGNORECASE)


def repository_name(record_id: Any) -> str | None:
    """The repository name carried by an id like ``owner/name`` or ``name/README.md``, else ``None``."""
    if not isinstance(record_id, str):
        return None
    parts = [part for part in record_id.strip().split("/") if part]
    if parts and _README_FILE.match(parts[-1]):
        return parts[-2] if len(parts) >= 2 else None
    return parts[-1] if len(parts) >= 2 else None


def _readable_name(name: str) -> str:
    return _SEPARATORS.sub(" ", _CAMEL.sub(r"\1 \2", name)).strip()


def read_as_english(readme: str) -> str:
    """The README with no Han character left: glossed where it is written in Chinese, dropped elsewhere."""
    if not has_han(readme):
        return readme
    # In an English README, Han text is a language link ("简体中文") or a name: glossing it
    # only adds "simplified Chinese" to the text, which says nothing about the project.
    if cjk_share(clean_readme(readme).text) >= CJK_README_SHARE:
        return gloss_chinese(readme)
    return drop_han(readme)


def document_text(readme: str, name: str | None = None) -> str:
    """The text the model reads: the repository name, then the cleaned README, Chinese read as English."""
    # Glossed before cleaning: the cleaner then drops glossed boilerplate sections as it does English ones
    # (dev-zh micro-F1 0.61 glossing first, 0.52 glossing the cleaned text).
    cleaned = clean_readme(read_as_english(readme)).text
    if name:
        return f"{_readable_name(name)}. {cleaned}".strip()
    return cleaned


class SentenceEncoder:
    """all-MiniLM-L6-v2 exported to ONNX: mean-pooled, L2-normalised embeddings.

    The ONNX graph includes pooling and normalisation, so one ``run`` gives
    the sentence vector. The session is created on first use, which keeps
    the object cheap to build and to send to worker processes.
    """

    def __init__(self, directory: str | Path, max_tokens: int = DEFAULT_MAX_TOKENS, threads: int = 0,
                 spinning: bool = False):
        self.directory = Path(directory)
        self.max_tokens = max_tokens
        self.threads = threads
        self.spinning = spinning
        self._session = None
        self._tokenizer = None
        self._single_thread_session = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict:
        return {"directory": self.directory, "max_tokens": self.max_tokens, "threads": self.threads,
                "spinning": self.spinning}

    def __setstate__(self, state: dict) -> None:
        self.__init__(**state)

    def _load(self) -> None:
        try:
            self._open()
        except Exception as exc:  # onnxruntime and tokenizers raise their own types for a damaged file
            self._session = self._tokenizer = None
            raise ModelError(f"encoder in {self.directory} is damaged or unreadable: "
                             f"{type(exc).__name__}: {str(exc)[:200]}") from None

    def _open(self) -> None:
        from tokenizers import Tokenizer

        self._session = self._new_session(self.threads)
        tokenizer = Tokenizer.from_file(str(self.directory / "tokenizer.json"))
        tokenizer.enable_truncation(self.max_tokens)
        tokenizer.no_padding()  # the saved tokenizer may carry padding; runs are one text each
        self._tokenizer = tokenizer

    def _new_session(self, threads: int):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Spinning pool threads shave ~2 ms off each README in a long run (15.3 -> 13.0 ms here) but burn
        # the cores that other work needs (88 vs 110 req/s at 4 connections, benchmarks/bench_service.py;
        # a lone README 40 vs 26 ms): off unless Settings.encoder_spinning asks for it.
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if self.spinning else "0")
        return onnxruntime.InferenceSession(str(self.directory / "model.onnx"), options,
                                            providers=["CPUExecutionProvider"])

    @property
    def parallel_runs(self) -> int:
        """READMEs encoded at once by :meth:`encode`: one per allowed thread (``threads``, or every core)."""
        return max(1, min(self.threads or os.cpu_count() or 1, MAX_PARALLEL_RUNS))

    def read_chars(self, text: str) -> int:
        """How many characters of ``text`` fit the token budget: the part of it the encoder reads."""
        if self._session is None:
            self._load()
        offsets = self._tokenizer.encode(text[: self.max_tokens * 12]).offsets
        return max((end for _, end in offsets), default=0)

    @property
    def dimension(self) -> int:
        if self._session is None:
            self._load()
        return int(self._session.get_outputs()[0].shape[-1])

    def encode(self, texts: Sequence[str]) -> "np.ndarray":
        """Embed texts; rows are unit vectors (float32).

        One text per run: the int8 graph scales activations per run, so a
        padded batch would make a README's vector depend on its neighbours.
        Unpadded single runs are deterministic; several go side by side.
        """
        import numpy as np

        if self._session is None:
            self._load()
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        # A word is at least one token, so this prefix always fills the token budget;
        # it spares the tokenizer from reading whole READMEs only to truncate them.
        prefix_chars = self.max_tokens * 12
        encodings = self._tokenizer.encode_batch([t[:prefix_chars] for t in texts])
        if len(texts) == 1 or self.parallel_runs == 1:
            for row, encoding in enumerate(encodings):
                out[row] = self._run(self._session, encoding.ids)
            return out
        # Several READMEs: one single-threaded run per core at once. A run of one short text uses
        # two threads poorly; two runs side by side gave 8.3 instead of 11.7 ms per README here,
        # with the very same vectors (integer kernels; each run is still one text).
        session = self._single_threaded()
        context = contextvars.copy_context()  # the request deadline, in every pool thread
        with ThreadPoolExecutor(self.parallel_runs) as pool:
            rows = pool.map(lambda ids: context.copy().run(self._run, session, ids), (e.ids for e in encodings))
            for row, vector in enumerate(rows):
                out[row] = vector
        return out

    def _single_threaded(self):
        with self._lock:
            if self._single_thread_session is None:
                self._single_thread_session = self._new_session(1)
            return self._single_thread_session

    @staticmethod
    def _run(session, token_ids: list[int]) -> "np.ndarray":
        import numpy as np

        deadline.check()  # a timed-out request stops here, not after its whole batch
        ids = np.array([token_ids], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
        return session.run(None, feed)[0][0]


#: scikit-learn's default word pattern: runs of two or more word characters.
_TOKEN = re.compile(r"(?u)\b\w\w+\b")


class LexicalFeatures:
    """TF-IDF over word uni- and bi-grams, stored as plain arrays (no pickles).

    Fitting uses scikit-learn's ``TfidfVectorizer``; a loaded model transforms with
    :meth:`transform_rows`, the same arithmetic in numpy, so tagging never imports
    scikit-learn or scipy (their import alone cost seconds of CLI start-up).
    """

    def __init__(self, max_features: int = 30_000, min_df: int = 3):
        self.max_features = max_features
        self.min_df = min_df
        self._vectorizer = None
        self._vocabulary: dict[str, int] | None = None
        self._idf: "np.ndarray | None" = None

    def _new_vectorizer(self, vocabulary=None):
        import numpy as np
        from sklearn.feature_extraction.text import TfidfVectorizer

        return TfidfVectorizer(
            ngram_range=(1, 2),
            min_df=1 if vocabulary is not None else self.min_df,
            max_features=None if vocabulary is not None else self.max_features,
            sublinear_tf=True,
            vocabulary=vocabulary,
            dtype=np.float32,
        )

    def fit(self, texts: Sequence[str]) -> "LexicalFeatures":
        vectorizer = self._new_vectorizer()
        try:
            vectorizer.fit(texts)
        except ValueError:
            # Too few documents for min_df: keep every term instead.
            vectorizer = self._new_vectorizer()
            vectorizer.min_df = 1
            vectorizer.fit(texts)
        self._vectorizer = vectorizer
        self._vocabulary = dict(vectorizer.vocabulary_)
        self._idf = vectorizer.idf_.astype("float32")
        return self

    @property
    def size(self) -> int:
        return len(self._vocabulary) if self._vocabulary is not None else 0

    @property
    def idf_size(self) -> int:
        return len(self._idf) if self._idf is not None else 0

    def transform(self, texts: Sequence[str]):
        """A scipy sparse matrix (training only: needs scikit-learn)."""
        if self._vectorizer is None:
            self._vectorizer = self._new_vectorizer(vocabulary=self._vocabulary)
            self._vectorizer.fit(["x"])  # sets up the analyzer; the idf is replaced below
            self._vectorizer.idf_ = self._idf.astype("float64")
        return self._vectorizer.transform(texts)

    def transform_rows(self, texts: Sequence[str]) -> "list[tuple[np.ndarray, np.ndarray]]":
        """Each text's (term indices, TF-IDF values): sublinear tf x idf, L2-normalised, as scikit-learn does."""
        import numpy as np

        rows = []
        for text in texts:
            words = _TOKEN.findall(text.lower())
            counts: dict[int, int] = {}
            for term in words + [f"{a} {b}" for a, b in zip(words, words[1:])]:
                index = self._vocabulary.get(term)
                if index is not None:
                    counts[index] = counts.get(index, 0) + 1
            indices = np.fromiter(counts, dtype=np.int64, count=len(counts))
            values = (np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts))) + 1.0) * self._idf[indices]
            norm = np.sqrt(np.sum(values * values))
            rows.append((indices, (values / norm if norm else values).astype(np.float32)))
        return rows

    def terms(self, indices: Sequence[int]) -> list[str]:
        """The words or word pairs at these feature indices."""
        if getattr(self, "_terms", None) is None:
            self._terms = sorted(self._vocabulary, key=self._vocabulary.get)
        return [self._terms[int(i)] for i in indices]

    def state(self) -> "tuple[dict, np.ndarray]":
        """JSON-able settings and vocabulary, and the idf weights."""
        vocabulary = sorted(self._vocabulary, key=self._vocabulary.get)
        settings = {"max_features": self.max_features, "min_df": self.min_df, "vocabulary": vocabulary}
        return settings, self._idf

    @classmethod
    def from_state(cls, settings: dict, idf: "np.ndarray") -> "LexicalFeatures":
        import numpy as np

        features = cls(settings["max_features"], settings["min_df"])
        features._vocabulary = {term: i for i, term in enumerate(settings["vocabulary"])}
        features._idf = np.asarray(idf, dtype=np.float32)
        return features
