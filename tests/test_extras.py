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


def test_eval_chart_without_matplotlib_fails_first_with_one_line(tmp_path):
    """Blocks matplotlib in a real process: one line, exit 2, and no work done before it."""
    gold = tmp_path / "gold.jsonl"
    gold.write_text('{"id": "a", "tags": ["cli"]}\n')
    blocker = tmp_path / "sitecustomize.py"
    blocker.write_text(
        "import importlib.abc, sys\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name.split('.')[0] == 'matplotlib':\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, Block())\n")
    done = subprocess.run([sys.executable, "-m", "repotag", "eval", "default", str(gold), "--chart", str(tmp_path / "c.png")],
                          capture_output=True, text=True, env={"PYTHONPATH": str(tmp_path), "PATH": ""}, timeout=120)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == ("repotag: error: charts needs the 'eval' extra (matplotlib not installed): "
                           "pip install 'repotag[eval]'\n")
