"""The backend interface: registry, entry points, the embedded backend's preparation, FixedScores."""

import json
import subprocess
import sys
import textwrap

import pytest

from repotag import ConfigError, Tagger, Taxonomy
from repotag.backends import Backend, Document, FixedScores, available_backends, get_backend

TAX = Taxonomy.from_json([{"id": 1, "name": "cli"}, {"id": 2, "name": "rust"}, {"id": 3, "name": "game-engine "}])

PLUGIN = '''
from repotag.backends import Backend


class KeywordBackend(Backend):
    """Scores a tag 1.0 when its name appears in the README."""

    name = "keyword"

    def score(self, documents, taxonomy):
        return [[float(tag.key in doc.text.lower()) for tag in taxonomy] for doc in documents]
'''


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """A third-party package that registers a backend through the ``repotag.backends`` entry point group."""
    (tmp_path / "keyword_plugin.py").write_text(textwrap.dedent(PLUGIN))
    info = tmp_path / "keyword_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: keyword-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[repotag.backends]\nkeyword = keyword_plugin:KeywordBackend\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_built_in_backends_are_listed_and_unknown_names_are_refused():
    assert {"embedded", "fixed"} <= set(available_backends())
    assert get_backend("fixed") is FixedScores
    with pytest.raises(ConfigError, match=r"unknown backend 'nope' \(available: .*embedded.*fixed"):
        get_backend("nope")


def test_a_backend_registered_through_an_entry_point_plugs_in(plugin):
    assert "keyword" in available_backends()
    tagger = Tagger.load(backend="keyword", taxonomy=TAX)
    assert tagger.name == "keyword"
    result = tagger.tag("A CLI in Rust.", id="x").to_dict()
    assert result == {"id": "x", "tags": [{"id": 1, "name": "cli"}, {"id": 2, "name": "rust"}]}
    assert tagger.tag("A CLI in Rust.", max_tags=1).to_dict() == {"id": None, "tags": [{"id": 1, "name": "cli"}]}
    assert tagger.tag("nothing matches").to_dict() == {"id": None, "tags": [{"id": 1, "name": "cli"}]}  # top tag at 0


def test_the_cli_uses_a_plugged_in_backend(plugin, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("A game-engine written in Rust")
    taxonomy = tmp_path / "tags.json"
    taxonomy.write_text(json.dumps(TAX.to_list()))
    done = subprocess.run(
        [sys.executable, "-m", "repotag", "tag", str(readme), "--id", "7", "--backend", "keyword",
         "--taxonomy", str(taxonomy), "--max-tags", "3"],
        capture_output=True, text=True, env={"PYTHONPATH": str(plugin), "PATH": ""}, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"id": "7", "tags": [{"id": 2, "name": "rust"}, {"id": 3, "name": "game-engine "}]}


def test_a_broken_or_wrong_plugin_is_a_one_line_error(tmp_path, monkeypatch):
    (tmp_path / "broken_plugin.py").write_text("raise RuntimeError('boom')\n")
    (tmp_path / "wrong_plugin.py").write_text("class NotABackend:\n    pass\n")
    info = tmp_path / "plugins-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: plugins\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[repotag.backends]\nbroken = broken_plugin:Thing\nwrong = wrong_plugin:NotABackend\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError, match=r"^backend 'broken' could not be loaded: RuntimeError: boom$"):
        get_backend("broken")
    with pytest.raises(ConfigError, match=r"^backend 'wrong' \(wrong_plugin:NotABackend\) is not a repotag"):
        get_backend("wrong")


def test_fixed_scores_table_function_and_abstain():
    backend = FixedScores(lambda doc: None if "skip" in doc.text else {"RUST ": 0.7, "cli": 0.2})
    rows = backend.score([Document("keep"), Document("skip me")], TAX)
    assert rows == [[0.2, 0.7, 0.0], None]
    assert [d.text for d in backend.calls[0]] == ["keep", "skip me"]


def test_backend_subclass_needs_score():
    class Incomplete(Backend):
        pass

    with pytest.raises(TypeError):
        Incomplete()
