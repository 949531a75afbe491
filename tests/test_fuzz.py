"""Fuzz suite: generated hostile input for cleaning, tagging, batch and resume.

Every property is "nothing escapes": no exception other than repotag's own
one-line errors, no invalid output line, no lost or duplicated id.
"""

import json
import math
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from repotag import RepotagError, Settings
from repotag.batch import run_batch
from repotag.pipeline import clean_readme

#: What pathological markdown is made of: the characters the cleaning patterns look for.
MARKUP = st.text(alphabet=" \t\n#*_|-`[]()!<>:=.~/\\ha1", min_size=1, max_size=12)
ANY_TEXT = st.text(alphabet=st.characters(codec=None), max_size=3000)  # surrogates included


def cpu_seconds(function, *args) -> float:
    best = math.inf
    for _ in range(3):
        started = time.process_time()
        function(*args)
        best = min(best, time.process_time() - started)
    return best


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(unit=MARKUP, lead=st.sampled_from(["", "# D\n\nD is a web framework.\n\n", "#a", "| a | b |\n"]))
def test_cleaning_cost_grows_linearly(unit, lead):
    # Sizes N and 8N: linear work grows ~8x, quadratic 64x, cubic 512x. The factor is
    # generous (CPU time, best of three) and the slack absorbs timer granularity.
    def text(size):
        return lead + unit * (size // len(unit)) + "b"

    small, large = cpu_seconds(clean_readme, text(4_000)), cpu_seconds(clean_readme, text(32_000))
    assert large <= 24 * small + 0.02, (unit, small, large)


@settings(max_examples=40, deadline=None)
@given(readme=ANY_TEXT)
def test_tagging_any_text_gives_tags_or_a_repotag_error(tagger, readme):
    try:
        result = tagger.tag(readme, "fuzz/x")
    except RepotagError as exc:
        assert "\n" not in str(exc)
        return
    assert len(result.tags) <= 3 and json.loads(result.to_json())["id"] == "fuzz/x"


IDS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(alphabet=st.characters(codec=None),
                max_size=6), st.lists(st.integers(), max_size=2))
ROWS = st.one_of(
    st.fixed_dictionaries({"id": IDS, "readme": st.one_of(ANY_TEXT, st.integers(), st.none())}),
    st.sampled_from(["{not json", "123", '["x"]', "\udcff", '{"id": NaN, "readme": "x"}', '{"id": "dup", "readme": "x"}']),
)


def strict_json(line: str):
    """Parse one output line as standard JSON (NaN and Infinity refused)."""
    def refuse(constant):
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(line, parse_constant=refuse)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(ROWS, min_size=1, max_size=30), cut=st.integers(0, 400), garbage=st.sampled_from(
    [b"123\n", b'["x"]\n', b"\xff\xfe\n", b"\x00" * 40 + b"\n", b'{"id": "zz"\n', b"{}\n"]))
def test_batch_and_resume_keep_every_id_once(tmp_path_factory, rows, cut, garbage):
    folder = tmp_path_factory.mktemp("fuzz")
    source = folder / "in.jsonl"
    with open(source, "w", encoding="utf-8", errors="surrogatepass") as handle:
        for row in rows:
            handle.write((row if isinstance(row, str) else json.dumps(row)) + "\n")
    fake = Settings(backend="fixed")
    complete = folder / "complete.jsonl"
    run_batch(source, complete, settings=fake, workers=1)
    # JSON lines end at "\n" only: splitlines() would also cut at a U+2028 or \x1c inside a string.
    expected = [strict_json(line) for line in complete.read_text(encoding="utf-8").split("\n")[:-1]]

    # A run that died: its output cut anywhere, garbage in the middle (a crash, a full disk).
    damaged = folder / "damaged.jsonl"
    data = complete.read_bytes()
    middle = data.find(b"\n", min(cut, len(data))) + 1
    damaged.write_bytes(data[:middle] + garbage + data[middle:][: max(0, len(data) - middle - 7)])
    run_batch(source, damaged, settings=fake, workers=1, resume=True)
    resumed = [strict_json(line) for line in damaged.read_text(encoding="utf-8").split("\n")[:-1]]

    def key(line):
        return json.dumps([line["id"], line.get("line")])

    assert sorted(map(key, resumed)) == sorted(map(key, expected))
    assert len(set(map(key, resumed))) == len(resumed)
