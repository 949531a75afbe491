import numpy as np
import pytest

from repotag.model import bundled_model_dir
from repotag.pipeline import LexicalFeatures, SentenceEncoder, document_text, repository_name


@pytest.mark.parametrize(
    "record_id, name",
    [("Geal/nom", "nom"), ("https://github.com/a/b/", "b"), ("6186", None), (6186, None), (None, None), ("/x", None),
     ("tools/ripgrep/README.md", "ripgrep"), ("ripgrep/readme.rst", "ripgrep"), ("README.md", None)],
)
def test_repository_name(record_id, name):
    assert repository_name(record_id) == name


def test_document_text_leads_with_readable_name():
    assert document_text("# T\n\nA tool.", "fastAPI_utils") == "fast API utils. T. A tool."
    assert document_text("# T\n\nA tool.") == "T. A tool."


@pytest.fixture(scope="module")
def encoder():
    return SentenceEncoder(bundled_model_dir() / "encoder")


def test_encoder_gives_unit_vectors_independent_of_batch_order(encoder):
    texts = ["a fast JSON parser", "terminal emulator written in Rust with GPU rendering " * 5, "x"]
    together = encoder.encode(texts)
    assert together.shape == (3, 384) and together.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-4)
    alone = np.vstack([encoder.encode([t]) for t in texts])
    np.testing.assert_array_equal(together, alone)
    assert encoder.encode([]).shape == (0, 384)


def test_parallel_runs_give_the_vectors_of_one_run_at_a_time(encoder):
    texts = [f"tool number {i}: a command-line utility for {topic}" for i, topic in
             enumerate(["json", "images", "git", "kubernetes", "audio", "fonts", "maps"])]
    one_at_a_time = SentenceEncoder(bundled_model_dir() / "encoder", threads=1)
    side_by_side = SentenceEncoder(bundled_model_dir() / "encoder", threads=3)
    assert (one_at_a_time.parallel_runs, side_by_side.parallel_runs) == (1, 3)
    np.testing.assert_array_equal(side_by_side.encode(texts), one_at_a_time.encode(texts))


def test_encoder_meaning(encoder):
    query, near, far = encoder.encode(["database engine", "a SQL database server", "a video game about cats"])
    assert query @ near > query @ far


def test_lexical_state_round_trip():
    texts = ["fast json parser", "json parser for rust", "terminal emulator", "terminal json"]
    features = LexicalFeatures(max_features=100, min_df=1).fit(texts)
    settings, idf = features.state()
    restored = LexicalFeatures.from_state(settings, idf)
    assert (features.transform(texts) != restored.transform(texts)).nnz == 0
    assert restored.size == features.size


def test_numpy_tfidf_equals_scikit_learn_and_survives_save_load():
    texts = ["A fast CLI tool for searching files, fast and simple.", "Kubernetes operator for Postgres databases",
             "the the the", "", "Ünïcode wörds and CamelCase tokens 42"]
    fitted = LexicalFeatures(max_features=500, min_df=1).fit(texts * 3)
    restored = LexicalFeatures.from_state(*fitted.state())
    expected = fitted.transform(texts).toarray()
    for source in (fitted, restored):
        dense = np.zeros_like(expected)
        for row, (indices, values) in enumerate(source.transform_rows(texts)):
            dense[row, indices] = values
        np.testing.assert_allclose(dense, expected, atol=1e-6)


def test_tagging_imports_neither_scikit_learn_nor_scipy():
    import subprocess
    import sys

    code = ("import sys; from repotag import Tagger; Tagger.load().tag('A command-line tool.'); "
            "print(sorted(m for m in ('sklearn', 'scipy', 'joblib') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "[]", done.stderr
