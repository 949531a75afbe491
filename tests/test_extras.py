import subprocess
import sys

import pytest

from repotag._extras import EXTRAS, MissingExtra, require_extra


def test_present_extra_passes_and_missing_one_names_the_install_command(monkeypatch):
    require_extra("eval")  # the dev install has matplotlib
    monkeypatch.setitem(EXTRAS, "eval", (("matplotlib", "no_such_module_xyz"), "charts"))
    with pytest.raises(MissingExtra, match=r"^charts needs the 'eval' extra \(no_such_module_xyz not installed\): "
                                           r"pip install 'repotag\[eval\]'$"):
        require_extra("eval")


def run_without(tmp_path, modules, *args):
    """`repotag ARGS` in a real process where ``modules`` cannot be imported, as if not installed."""
    blocker = tmp_path / "sitecustomize.py"
    blocker.write_text(
        "import importlib.abc, sys\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        f"        if name.split('.')[0] in {list(modules)!r}:\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, Block())\n")
    return subprocess.run([sys.executable, "-m", "repotag", *args], capture_output=True, text=True,
                          env={"PYTHONPATH": str(tmp_path), "PATH": ""}, timeout=120)


def test_tagging_needs_no_training_extra_and_training_names_it(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# ripgrep\nripgrep is a command-line search tool.\n")
    done = run_without(tmp_path, ["sklearn", "scipy"], "tag", str(readme))
    assert done.returncode == 0 and done.stdout.startswith('{"id": null, "tags": [{')
    labels = tmp_path / "labels.jsonl"
    labels.write_text('{"readme": "x", "tags": ["cli"]}\n')
    done = run_without(tmp_path, ["sklearn", "scipy"], "train", str(labels), "--taxonomy", str(tmp_path / "t.json"),
                       "-o", str(tmp_path / "m"))
    assert (done.returncode, done.stderr) == (2, "repotag: error: training needs the 'train' extra (sklearn, scipy "
                                                 "not installed): pip install 'repotag[train]'\n")


def test_eval_chart_without_matplotlib_fails_first_with_one_line(tmp_path):
    """Blocks matplotlib in a real process: one line, exit 2, and no work done before it."""
    gold = tmp_path / "gold.jsonl"
    gold.write_text('{"id": "a", "tags": ["cli"]}\n')
    done = run_without(tmp_path, ["matplotlib"], "eval", "default", str(gold), "--chart", str(tmp_path / "c.png"))
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == ("repotag: error: charts needs the 'eval' extra (matplotlib not installed): "
                           "pip install 'repotag[eval]'\n")
