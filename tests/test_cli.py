import json
import random
import subprocess
import sys

import pytest
from click.testing import CliRunner

from conftest import make_prompt
from repotag import Taxonomy
from repotag.cli import main

README = "# ripgrep\nripgrep is a command-line search tool that recursively searches directories for a regex.\n"


def run(*args, input=None):
    result = CliRunner().invoke(main, [str(a) for a in args], input=input)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def readme(tmp_path):
    path = tmp_path / "README.md"
    path.write_text(README)
    return path


def test_tag_prints_the_contract(readme):
    code, out, _ = run("tag", readme, "--id", "6186")
    data = json.loads(out)
    assert code == 0 and data["id"] == "6186" and 1 <= len(data["tags"]) <= 3
    assert all(tag in Taxonomy.default().to_list() for tag in data["tags"])


def test_tag_several_files_a_directory_and_gzip(tmp_path, readme):
    import gzip

    zipped = tmp_path / "ripgrep" / "README.md.gz"
    zipped.parent.mkdir()
    zipped.write_bytes(gzip.compress(README.encode()))
    code, out, _ = run("tag", readme, zipped)
    results = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["id"] for r in results] == [str(readme), str(zipped)]  # each id is its path
    _, alone, _ = run("tag", zipped, "--id", str(zipped))
    assert results[1] == json.loads(alone)
    code, out, _ = run("tag", tmp_path, "--id", "x")  # a directory: its README
    assert code == 0 and json.loads(out)["id"] == "x"
    code, _, err = run("tag", readme, readme, "--id", "x")
    assert code == 2 and err.startswith("repotag: error: --id and --name name one README")
    code, _, err = run("tag", "https://github.com/BurntSushi/ripgrep")
    assert code == 2 and err == ("repotag: error: URLs are not fetched (repotag works offline): save the README and "
                                 "pass the file: https://github.com/BurntSushi/ripgrep\n")


@pytest.mark.parametrize("args, message", [
    (["eval", "x", "/no/gold.jsonl"], "Invalid value for 'GOLD': File '/no/gold.jsonl' does not exist. "
                                      "(see 'repotag eval --help')"),
    (["tag"], "Missing argument 'README...'. (see 'repotag tag --help')"),
    (["tag", "x", "--max-tags", "many"], "Invalid value for '--max-tags': 'many' is not a valid integer. "
                                         "(see 'repotag tag --help')"),
    (["nope"], "No such command 'nope'. (see 'repotag --help')"),
])
def test_usage_errors_are_one_line(args, message):
    done = subprocess.run([sys.executable, "-m", "repotag", *args], capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr == f"repotag: error: {message}\n" and done.stdout == ""


def test_tag_stdin_scores_and_max_tags():
    code, out, _ = run("tag", "-", "--max-tags", "1", "--scores", input=README)
    data = json.loads(out)
    assert code == 0 and data["id"] is None and len(data["tags"]) == 1 and 0 < data["tags"][0]["score"] <= 1


def test_custom_taxonomy_of_names(readme, tmp_path):
    tags = tmp_path / "tags.json"
    tags.write_text('["search", "cooking", "gardening"]')
    code, out, _ = run("tag", readme, "--taxonomy", tags, "--max-tags", "1")
    assert code == 0 and json.loads(out)["tags"] == [{"id": 1, "name": "search"}]


def test_taxonomy_smaller_than_the_default_limit(readme, tmp_path):
    tags = tmp_path / "tags.json"
    tags.write_text('["search", "cooking"]')
    code, out, _ = run("tag", readme, "--taxonomy", tags)
    assert code == 0 and json.loads(out)["tags"][0] == {"id": 1, "name": "search"}
    code, _, err = run("tag", readme, "--taxonomy", tags, "--max-tags", "3")
    assert code == 2 and err.strip() == "repotag: error: max_tags 3 exceeds the taxonomy size (2 tags)"


def test_empty_file_is_valid_json_with_no_tags(tmp_path):
    empty = tmp_path / "empty.md"
    empty.write_text("  \n")
    code, out, _ = run("tag", empty, "--id", "x")
    assert code == 0 and json.loads(out) == {"id": "x", "tags": []}


@pytest.mark.parametrize(
    "args, message",
    [
        (["--max-tags", "0"], "repotag: error: max_tags must be at least 1"),
        (["--max-tags", "91"], "repotag: error: max_tags 91 exceeds the taxonomy size (90 tags)"),
    ],
)
def test_bad_max_tags(readme, args, message):
    code, out, err = run("tag", readme, *args)
    assert code == 2 and out == "" and err.strip() == message


@pytest.mark.parametrize(
    "content, message",
    [("", "taxonomy file is empty"), ("nope", "taxonomy is not valid JSON: Expecting value at line 1"),
     ('["a", "a"]', "duplicate tag name 'a'"), ('[{"id": 1, "name": "a"}, {"id": 1, "name": "b"}]', "duplicate tag id 1"),
     ('[{"id": 1}]', "tag #1 has no name")],
)
def test_bad_taxonomy_file(readme, tmp_path, content, message):
    tags = tmp_path / "tags.json"
    tags.write_text(content)
    code, _, err = run("tag", readme, "--taxonomy", tags)
    assert code == 2 and err.strip() == f"repotag: error: {message}"


def test_binary_and_missing_files(tmp_path):
    binary = tmp_path / "logo.png"
    binary.write_bytes(bytes(range(256)) * 8)
    code, _, err = run("tag", binary)
    assert code == 2 and err.strip() == "repotag: error: input is binary, not text: give a README in UTF-8 or UTF-16"
    code, _, err = run("tag", tmp_path / "nope.md")
    assert code == 2 and err.strip() == f"repotag: error: file not found: {tmp_path / 'nope.md'}"


def test_prompt_command(tmp_path):
    path = tmp_path / "prompt.txt"
    path.write_text(make_prompt("A game engine for 2D and 3D games with an editor.", record_id="9", limit=1))
    code, out, _ = run("prompt", path)
    assert code == 0 and json.loads(out) == {"id": 9, "tags": [{"id": 81, "name": "game-engine "}]}
    path.write_text("no prompt here")
    code, _, err = run("prompt", path)
    assert code == 2 and err.startswith("repotag: error: not a tagging prompt")


def test_every_example_prompt_gives_expected_json(shared):
    paths = sorted((shared / "examples" / "prompts").glob("*.txt"))
    assert len(paths) == 5
    allowed = Taxonomy.default().to_list()
    for path in paths:
        code, out, _ = run("prompt", path)
        data = json.loads(out)
        assert code == 0 and set(data) == {"id", "tags"} and isinstance(data["id"], str)
        assert 1 <= len(data["tags"]) <= 3 and all(t in allowed for t in data["tags"])


def test_real_process_has_no_traceback(tmp_path):
    binary = tmp_path / "blob.bin"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n" + random.Random(0).randbytes(4000))
    done = subprocess.run([sys.executable, "-m", "repotag", "tag", str(binary)], capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_train_then_tag_and_eval_with_the_model(tmp_path):
    tags = tmp_path / "tags.json"
    tags.write_text(json.dumps([{"id": "db", "name": "database"}, {"id": "g", "name": "game"}, {"id": "x", "name": "music"}]))
    labels = tmp_path / "labels.jsonl"
    rows = [{"id": f"d{i}", "readme": f"# DB{i}\nA {w} database engine.", "tags": ["database"]}
            for i, w in enumerate(["SQL", "graph", "document", "key-value", "time-series", "vector"])]
    rows += [{"id": f"g{i}", "readme": f"# G{i}\nA {w} video game.", "tags": ["game"]}
             for i, w in enumerate(["puzzle", "racing", "chess", "shooter", "platformer", "strategy"])]
    labels.write_text("".join(json.dumps(r) + "\n" for r in rows))
    model = tmp_path / "model"
    code, out, err = run("train", labels, "--taxonomy", tags, "-o", model, "--folds", "3")
    assert code == 0 and (model / "model.json").is_file() and (model / "MODEL_CARD.md").is_file(), err
    assert err.splitlines()[:8] == ["repotag: encoding 12 READMEs", "repotag: scoring 12 READMEs with the base model",
                                    "repotag: cross-validation: fold 1 of 3",
                                    "repotag: cross-validation: fold 2 of 3", "repotag: cross-validation: fold 3 of 3",
                                    "repotag: fitting the final model on 12 READMEs",
                                    "repotag: 2 of 3 tags are scored by the base model: database, game",
                                    f"trained 2 of 3 tags on 12 READMEs, 2 of them by the default model (1 zero-shot); "
                                    f"saved to {model}"]
    table = out.splitlines()
    assert table[0] == "3-fold cross-validation; 'honest' chose the thresholds on other folds only"
    assert table[2].split() == ["micro_f1", "micro_precision", "micro_recall", "macro_f1", "example_f1", "top1_hit"]
    assert table[3].startswith("honest") and table[4].startswith("same folds")
    code, out, err = run("train", labels, "--taxonomy", tags, "-o", tmp_path / "m2", "--folds", "3", "--json",
                         "--base", "none")
    assert code == 0 and json.loads(out)["cross_validated"]["count"] == 12
    assert "trained 2 of 3 tags on 12 READMEs (1 zero-shot)" in err and "base model" not in err
    readme = tmp_path / "r.md"
    readme.write_text("# Chessy\nA chess video game you play in the browser.")
    code, out, _ = run("tag", readme, "--model", model, "--max-tags", "1")
    assert json.loads(out)["tags"] == [{"id": "g", "name": "game"}]
    readmes = tmp_path / "readmes.jsonl"
    readmes.write_text("".join(json.dumps({"id": r["id"], "readme": r["readme"]}) + "\n" for r in rows))
    gold = tmp_path / "labels-gold.jsonl"
    gold.write_text("".join(json.dumps({"id": r["id"], "tags": r["tags"]}) + "\n" for r in rows))
    code, out, err = run("eval", model, gold, "--readmes", readmes, "--json")
    assert code == 0 and json.loads(out)["top1_hit"] == 1.0
    assert err.startswith("repotag: warning: 12 of 12 READMEs were training documents of this model: their scores "
                          "are in-sample")
    unseen = tmp_path / "unseen.jsonl"
    unseen.write_text(json.dumps({"id": "new", "readme": "# Chessy\nA chess video game."}) + "\n")
    (tmp_path / "unseen-gold.jsonl").write_text(json.dumps({"id": "new", "tags": ["game"]}) + "\n")
    code, _, err = run("eval", model, tmp_path / "unseen-gold.jsonl", "--readmes", unseen)
    assert code == 0 and "warning" not in err
    code, out, err = run("eval", model, labels, "--cv", "3", "--json")  # honest, on the model's own labels
    assert code == 0 and json.loads(out)["count"] == 12 and "repotag: cross-validation: fold 3 of 3" in err
    code, _, err = run("eval", "default", labels, "--cv", "3")
    assert code == 2 and err.startswith("repotag: error: --cv retrains a model directory from 'repotag train' on its "
                                        "labels; the default model's training data is not shipped")


def test_eval_of_a_predictions_file_writes_a_chart(tmp_path):
    gold = tmp_path / "gold.jsonl"
    gold.write_text('{"id": "a", "tags": ["cli"]}\n{"id": "b", "tags": ["ai", "chat"]}\n')
    pred = tmp_path / "pred.jsonl"
    pred.write_text('{"id": "a", "tags": [{"id": 4, "name": "cli", "score": 0.9}]}\n'
                    '{"id": "b", "tags": [{"id": 21, "name": "chat", "score": 0.6}]}\n')
    chart = tmp_path / "chart.png"
    code, out, _ = run("eval", pred, gold, "--chart", chart)
    assert code == 0 and "micro-F1   0.8000" in out and "top-1 hit  1.0000" in out
    assert chart.read_bytes()[:4] == b"\x89PNG"
    code, _, err = run("eval", tmp_path / "nothing", gold)
    assert code == 2 and "neither a predictions file" in err


def test_min_score_lets_an_unrelated_readme_get_no_tag(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# AntennaPod\n\nAntennaPod is a podcast player for Android.\n")
    tags = tmp_path / "tags.json"
    tags.write_text('["CLI", "Python library", "HTTP service", "batch"]')
    code, out, _ = run("tag", readme, "--taxonomy", tags, "--id", "a", "--min-score", "0.5")
    assert (code, json.loads(out)) == (0, {"id": "a", "tags": []})
    code, out, _ = run("tag", readme, "--taxonomy", tags, "--id", "a")  # zero-shot tags: the 0.1 floor by default
    assert (code, json.loads(out)) == (0, {"id": "a", "tags": []})
    code, out, _ = run("tag", readme, "--taxonomy", tags, "--id", "a", "--min-score", "0")
    assert code == 0 and len(json.loads(out)["tags"]) == 1  # at 0 one tag is always given
    code, out, _ = run("tag", readme, "--id", "a")  # the model's own tags: no floor
    assert code == 0 and json.loads(out)["tags"][0]["name"] == "mobile-app"
    code, _, err = run("tag", readme, "--min-score", "2")
    assert (code, err) == (2, "repotag: error: min_score must be between 0 and 1\n")


def test_top_level_help_has_whole_summaries_and_examples():
    code, out, _ = run("--help")
    commands = out.split("Commands:")[1].split("Examples:")[0]
    summaries = [line.split(None, 1)[1] for line in commands.strip().splitlines()]
    assert code == 0 and len(summaries) == 7 and not any(s.endswith("...") for s in summaries)
    assert "repotag batch catalogue.jsonl -o tags.jsonl" in out.split("Examples:")[1]


def test_progress_says_loading_model_until_the_first_readme_then_counts_on_its_own_console():
    import io

    from rich.console import Console

    from repotag.cli import _progress

    screen = io.StringIO()
    with _progress(lambda: 4, Console(file=screen, force_terminal=True, width=100)) as advance:
        screen.seek(0)
        assert "loading model" in screen.getvalue()
        advance(4)
    assert "tagging" in screen.getvalue() and "4/4" in screen.getvalue()
    with _progress(lambda: 4) as advance:  # not a terminal (pytest captures stderr): no bar at all
        assert advance is None


def test_eval_reports_chinese_or_mixed_readmes_apart(tmp_path):
    readmes = tmp_path / "readmes.jsonl"
    rows = [{"id": "zh/mall", "readme": "# mall\n\nmall项目是一套电商系统，包括前台商城系统及后台管理系统。"},
            {"id": "en/cli", "readme": "# tool\n\nA command-line tool."},
            {"id": "en/game", "readme": "# game\n\nA video game."}]
    readmes.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    gold = tmp_path / "gold.jsonl"
    gold.write_text('{"id": "zh/mall", "tags": ["ecommerce"]}\n{"id": "en/cli", "tags": ["cli"]}\n'
                    '{"id": "en/game", "tags": ["game"]}\n')
    predicted = tmp_path / "pred.jsonl"
    predicted.write_text('{"id": "zh/mall", "tags": ["ai"]}\n{"id": "en/cli", "tags": ["cli"]}\n'
                         '{"id": "en/game", "tags": ["game"]}\n')
    code, out, _ = run("eval", predicted, gold, "--readmes", readmes)
    assert code == 0
    assert out.splitlines()[-3:] == ["Chinese or mixed (1 READMEs): micro-F1 0.000, example-F1 0.000, top-1 hit 0.000", "",
                                     "other (2 READMEs): micro-F1 1.000, example-F1 1.000, top-1 hit 1.000"]
    code, out, _ = run("eval", predicted, gold, "--readmes", readmes, "--json")
    assert json.loads(out)["subsets"]["Chinese or mixed"]["count"] == 1
