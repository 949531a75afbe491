import csv
import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from repotag import InputError
from repotag.batch import completed_keys, read_records, run_batch
from repotag.cli import main

TOPICS = [
    "a command-line tool to search files", "a fast JSON parser library", "a React component library",
    "a relational database engine", "a video game about space", "a Kubernetes operator for deployments",
    "a deep learning framework for training neural networks", "a terminal emulator with GPU rendering",
]


def readme(i: int) -> str:
    return f"# project-{i}\n\nProject {i} is {TOPICS[i % len(TOPICS)]}."


def write_jsonl(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_jsonl_with_bad_records_and_duplicates(tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", [
        {"id": "a", "readme": readme(0)},
        "{this is not json",
        {"readme": "no id here"},
        {"id": "b"},
        {"id": "c", "readme": "nul\u0000bytes\u0000" * 10},
        {"id": 7, "readme": readme(1)},
        {"id": "a", "readme": readme(2)},
        {"id": "d", "readme": ""},
    ])
    out = tmp_path / "out.jsonl"
    summary = run_batch(source, out, workers=1)
    rows = lines(out)
    assert [r["id"] for r in rows] == ["a", None, None, "b", "c", 7, "d"]
    assert rows[1] == {"id": None, "error": "line 2: malformed JSON (JSONDecodeError)", "line": 2}
    assert rows[2] == {"id": None, "error": "line 3: record has no id", "line": 3}
    assert rows[3] == {"id": "b", "error": "record has no 'readme' field"}
    assert rows[4] == {"id": "c", "error": "input is binary, not text: give a README in UTF-8 or UTF-16"}
    assert rows[6] == {"id": "d", "tags": []}
    assert "tags" in rows[0] and "tags" in rows[5]
    assert (summary.done, summary.errors, summary.duplicates, summary.duplicate_ids) == (7, 4, 1, ["a"])


def test_csv_parquet_and_directory_inputs_agree(tmp_path):
    records = [{"id": f"team/r{i}", "readme": readme(i)} for i in range(5)]
    jsonl = write_jsonl(tmp_path / "in.jsonl", records)
    with open(tmp_path / "in.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, ["id", "readme"])
        writer.writeheader()
        writer.writerows(records)
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(records), tmp_path / "in.parquet")
    folder = tmp_path / "dir"
    for r in records:
        (folder / r["id"]).mkdir(parents=True)
        (folder / r["id"] / "README.md").write_text(r["readme"])
    outputs = {}
    for name, source in [("jsonl", jsonl), ("csv", tmp_path / "in.csv"), ("parquet", tmp_path / "in.parquet")]:
        run_batch(source, tmp_path / f"{name}.out.jsonl", workers=1)
        outputs[name] = lines(tmp_path / f"{name}.out.jsonl")
    assert outputs["jsonl"] == outputs["csv"] == outputs["parquet"]
    run_batch(folder, tmp_path / "dir.out.jsonl", workers=1)
    by_dir = lines(tmp_path / "dir.out.jsonl")
    # A directory's ids are relative paths; the repository name is the README's folder either way.
    assert [r["id"] for r in by_dir] == [f"team/r{i}/README.md" for i in range(5)]
    assert [r["tags"] for r in by_dir] == [r["tags"] for r in outputs["jsonl"]]


def test_input_errors(tmp_path):
    with pytest.raises(InputError, match="input not found"):
        list(read_records(tmp_path / "missing.jsonl"))
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(InputError, match="unknown input format"):
        read_records(tmp_path / "x.txt")
    (tmp_path / "bad.csv").write_text("name,text\na,b\n")
    with pytest.raises(InputError, match="CSV needs a header with 'id' and 'readme' columns"):
        list(read_records(tmp_path / "bad.csv"))


def test_existing_output_needs_resume(tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", [{"id": 1, "readme": readme(1)}])
    out = tmp_path / "out.jsonl"
    out.write_text('{"id": 1, "tags": []}\n')
    with pytest.raises(InputError, match="exists: pass --resume"):
        run_batch(source, out, workers=1)


def test_resume_skips_done_ids_and_repairs_a_torn_line(tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", [{"id": i, "readme": readme(i)} for i in range(10)] + ["{bad"])
    full = tmp_path / "full.jsonl"
    run_batch(source, full, workers=1)
    partial = tmp_path / "partial.jsonl"
    kept = full.read_text().splitlines(keepends=True)[:4]
    partial.write_text("".join(kept) + '{"id": 4, "ta')  # killed mid-write
    assert completed_keys(partial) == {f"id:{i}" for i in range(4)}
    assert partial.read_text() == "".join(kept)
    summary = run_batch(source, partial, workers=1, resume=True)
    assert summary.skipped == 4 and summary.done == 7
    assert partial.read_text() == full.read_text()
    again = run_batch(source, partial, workers=1, resume=True)
    assert again.done == 0 and again.skipped == 11


def test_two_workers_give_the_same_output_in_order(tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", [{"id": i, "readme": readme(i)} for i in range(300)])
    run_batch(source, tmp_path / "one.jsonl", workers=1)
    run_batch(source, tmp_path / "two.jsonl", workers=2)
    assert (tmp_path / "one.jsonl").read_text() == (tmp_path / "two.jsonl").read_text()


def test_cli_batch_summary(tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "readme": readme(1)}, {"id": "a", "readme": "x"}])
    result = CliRunner().invoke(main, ["batch", str(source), "-o", str(tmp_path / "o.jsonl"), "--workers", "1"])
    assert result.exit_code == 0
    assert result.stderr.startswith("done 1, skipped 0 (already in output), errors 0, duplicate ids 1, in ")
    assert 'duplicate ids in input (first kept): "a"' in result.stderr
    result = CliRunner().invoke(main, ["batch", str(source), "-o", str(tmp_path / "o.jsonl")])
    assert result.exit_code == 2 and "exists: pass --resume" in result.stderr
    result = CliRunner().invoke(main, ["batch", str(source), "-o", str(tmp_path / "p.jsonl"), "--workers", "0"],
                                prog_name="repotag")
    assert result.exit_code == 2
    assert result.stderr == "repotag: error: Invalid value for --workers: must be at least 1 (see 'repotag batch --help')\n"


def test_stdin_gzip_stdout_and_output_formats(tmp_path):
    import gzip

    rows = [{"id": "a", "readme": readme(1)}, {"id": "b", "readme": readme(2)}]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    expected = lines(run_batch(source, tmp_path / "ref.jsonl", workers=1) and tmp_path / "ref.jsonl")
    (tmp_path / "in.jsonl.gz").write_bytes(gzip.compress(source.read_bytes()))
    run_batch(tmp_path / "in.jsonl.gz", tmp_path / "gz.jsonl", workers=1)
    assert lines(tmp_path / "gz.jsonl") == expected
    with open(tmp_path / "in.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, ["id", "readme"])
        writer.writeheader()
        writer.writerows(rows)
    (tmp_path / "in.csv.gz").write_bytes(gzip.compress((tmp_path / "in.csv").read_bytes()))
    run_batch(tmp_path / "in.csv.gz", tmp_path / "csvgz.jsonl", workers=1)
    assert lines(tmp_path / "csvgz.jsonl") == expected
    result = CliRunner().invoke(main, ["batch", "-", "-o", "-", "--workers", "1"], input=source.read_text())
    assert result.exit_code == 0 and [json.loads(line) for line in result.stdout.splitlines()] == expected
    assert not (tmp_path / "-").exists()
    for name in ("out.parquet", "out.csv"):
        result = CliRunner().invoke(main, ["batch", str(source), "-o", str(tmp_path / name)])
        assert result.exit_code == 2 and result.stderr.startswith(f"repotag: error: {tmp_path / name}: batch output is JSONL")
        assert not (tmp_path / name).exists()
    result = CliRunner().invoke(main, ["batch", "-", "-o", "-", "--resume"], input="")
    assert result.exit_code == 2 and result.stderr == "repotag: error: --resume needs an output file, not standard output\n"
    (tmp_path / "bad.jsonl.gz").write_bytes(gzip.compress(source.read_bytes())[:40])
    with pytest.raises(InputError, match="bad.jsonl.gz: unreadable after line 0"):
        run_batch(tmp_path / "bad.jsonl.gz", tmp_path / "bad.out.jsonl", workers=1)


def test_columns_named_otherwise(tmp_path):
    rows = [{"id": "a", "readme": readme(1)}, {"id": "b", "readme": readme(2)}]
    expected = lines(run_batch(write_jsonl(tmp_path / "in.jsonl", rows), tmp_path / "ref.jsonl", workers=1)
                     and tmp_path / "ref.jsonl")
    renamed = [{"repo": r["id"], "text": r["readme"], "id": "ignored"} for r in rows]
    source = write_jsonl(tmp_path / "renamed.jsonl", renamed)
    result = CliRunner().invoke(main, ["batch", str(source), "-o", "-", "--workers", "1", "--id-field", "repo",
                                       "--text-field", "text"])
    assert result.exit_code == 0 and [json.loads(line) for line in result.stdout.splitlines()] == expected
    with open(tmp_path / "renamed.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, ["repo", "text"])
        writer.writeheader()
        writer.writerows({"repo": r["repo"], "text": r["text"]} for r in renamed)
    run_batch(tmp_path / "renamed.csv", tmp_path / "csv.jsonl", workers=1, columns=("repo", "text"))
    assert lines(tmp_path / "csv.jsonl") == expected
    with pytest.raises(InputError, match="CSV needs a header with 'repo' and 'body' columns"):
        run_batch(tmp_path / "renamed.csv", tmp_path / "bad.jsonl", workers=1, columns=("repo", "body"))
    result = CliRunner().invoke(main, ["batch", str(source), "-o", "-", "--id-field", "x", "--text-field", "x"],
                                prog_name="repotag")
    assert result.exit_code == 2 and result.stderr.startswith(
        "repotag: error: --id-field and --text-field must name different columns")


def test_directory_input_takes_readme_files_unless_told(tmp_path):
    folder = tmp_path / "repos"
    (folder / "a").mkdir(parents=True)
    (folder / "a" / "README.md").write_text(readme(1))
    (folder / "a" / "notes.txt").write_text("hello")
    (folder / "b").mkdir()
    (folder / "b" / "readme.rst").write_text(readme(2))
    run_batch(folder, tmp_path / "readmes.jsonl", workers=1)
    assert [r["id"] for r in lines(tmp_path / "readmes.jsonl")] == ["a/README.md", "b/readme.rst"]
    run_batch(folder, tmp_path / "txt.jsonl", workers=1, pattern="*.txt")
    assert [r["id"] for r in lines(tmp_path / "txt.jsonl")] == ["a/notes.txt"]


@pytest.mark.slow
def test_kill_at_a_random_point_then_resume_gives_every_id_once(tmp_path):
    count = 20_000
    source = write_jsonl(tmp_path / "in.jsonl", [{"id": f"id-{i}", "readme": readme(i)} for i in range(count)])
    command = [sys.executable, "-m", "repotag", "batch", str(source), "--workers", "2", "-o"]
    reference = tmp_path / "reference.jsonl"
    subprocess.run(command + [str(reference)], check=True, capture_output=True)
    killed = tmp_path / "killed.jsonl"
    process = subprocess.Popen(command + [str(killed)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    deadline = time.time() + 120
    target = random.Random().randint(500, count - 2000)
    while time.time() < deadline and (not killed.exists() or killed.stat().st_size < target * 60):
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    written = len(killed.read_bytes().splitlines())
    assert 0 < written < count, f"kill landed after {written} lines"
    subprocess.run(command + [str(killed), "--resume"], check=True, capture_output=True)
    resumed = lines(killed)
    ids = [r["id"] for r in resumed]
    assert len(ids) == count and len(set(ids)) == count
    expected = {r["id"]: r["tags"] for r in lines(reference)}
    assert {r["id"]: r["tags"] for r in resumed} == expected


@pytest.mark.slow
@pytest.mark.parametrize("stop, code, word", [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")])
def test_sigterm_or_ctrl_c_ends_batch_with_one_line_and_resume_finishes(tmp_path, stop, code, word):
    count = 3_000
    rows = [{"id": f"id-{i}", "readme": readme(i)} for i in range(count)]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    output = tmp_path / "out.jsonl"

    def batch(source_argument: str) -> list[str]:
        return [sys.executable, "-m", "repotag", "batch", source_argument, "--workers", "2", "-o", str(output)]

    # Records come from standard input and only the first 300 are sent, so the batch is mid-way when the signal
    # comes however fast this machine tags (a fast one can finish a 3,000-line file before the signal).
    # A shell starts background jobs with SIGINT ignored, and a child inherits that (as a user's batch would): the
    # batch gets SIGINT's default back, so the test checks repotag's handling wherever pytest runs.
    process = subprocess.Popen(batch("-"), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True, start_new_session=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    process.stdin.write("".join(json.dumps(row) + "\n" for row in rows[:300]))
    process.stdin.flush()
    deadline = time.time() + 120
    while time.time() < deadline and (not output.exists() or len(output.read_bytes().splitlines()) < 64):
        time.sleep(0.05)
    if stop == signal.SIGINT:
        os.killpg(process.pid, stop)  # Ctrl-C reaches the whole process group, workers included
    else:
        process.send_signal(stop)  # kill PID: the parent only
    _, stderr = process.communicate(timeout=60)
    assert (process.returncode, stderr) == (
        code, f"repotag: error: {word}: the results written so far are kept; --resume continues from them\n")
    assert 64 <= len(lines(output)) <= 300
    subprocess.run(batch(str(source)) + ["--resume"], check=True, capture_output=True)
    ids = [r["id"] for r in lines(output)]
    assert sorted(ids) == sorted(f"id-{i}" for i in range(count))


def test_count_records(tmp_path):
    from repotag.batch import count_records

    source = write_jsonl(tmp_path / "in.jsonl", [{"id": i, "readme": "x"} for i in range(7)] + [""])
    assert count_records(source) == 7
    (tmp_path / "d" / "a").mkdir(parents=True)
    (tmp_path / "d" / "a" / "README.md").write_text("x")
    (tmp_path / "d" / "b.md").write_text("y")
    assert count_records(tmp_path / "d") == 1  # README files only, by default
    assert count_records(tmp_path / "d", "*.md") == 2
    (tmp_path / "in.csv").write_text("id,readme\n1,x\n")
    assert count_records(tmp_path / "in.csv") is None


def test_small_custom_taxonomy_and_explicit_limit(tmp_path):
    from repotag import Taxonomy

    source = write_jsonl(tmp_path / "in.jsonl", [{"id": i, "readme": readme(i)} for i in (3, 4, 0)])
    two = Taxonomy.from_json(["databases", "games"])
    run_batch(source, tmp_path / "a.jsonl", taxonomy=two, workers=1)
    # Zero-shot tags get the 0.1 floor: the file-search tool fits neither and gets no tag.
    assert [[t["name"] for t in row["tags"]][:1] for row in lines(tmp_path / "a.jsonl")] == [["databases"], ["games"], []]
    run_batch(source, tmp_path / "b.jsonl", max_tags=1, workers=2)
    assert all(len(row["tags"]) == 1 for row in lines(tmp_path / "b.jsonl"))


@pytest.mark.parametrize("workers", [1, 2])
def test_worker_start_up_errors_end_the_run_with_one_error(tmp_path, workers):
    from repotag import ConfigError, ModelError, Settings

    source = write_jsonl(tmp_path / "in.jsonl", [{"id": 1, "readme": readme(1)}])
    with pytest.raises(ConfigError, match="max_tags 91 exceeds the taxonomy size"):
        run_batch(source, tmp_path / "a.jsonl", max_tags=91, workers=workers)
    with pytest.raises(ModelError, match="not a repotag model directory"):
        run_batch(source, tmp_path / "b.jsonl", settings=Settings(model=tmp_path), workers=workers)
    run_batch(source, tmp_path / "c.jsonl", workers=workers)  # a failed run leaves nothing behind
    assert [row["id"] for row in lines(tmp_path / "c.jsonl")] == [1]


def test_in_process_run_leaves_the_callers_blas_threads_alone(tmp_path):
    from threadpoolctl import threadpool_info

    def blas_threads():
        return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]

    source = write_jsonl(tmp_path / "in.jsonl", [{"id": 1, "readme": readme(1)}])
    run_batch(source, tmp_path / "warm.jsonl", workers=1)  # loads every BLAS the run uses
    from threadpoolctl import threadpool_limits

    threadpool_limits(2, user_api="blas")  # the caller's own choice
    before = blas_threads()
    assert before and all(n == 2 for n in before)
    run_batch(source, tmp_path / "o.jsonl", workers=1)
    assert blas_threads() == before


def test_poison_records_become_error_records_and_the_run_goes_on(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text(
        json.dumps({"id": "a", "readme": readme(0)}) + "\n"
        '{"id": "s", "readme": "a \\ud800 web framework"}\n'
        '{"id": "\\udfff", "readme": "x"}\n'
        '{"id": NaN, "readme": "x"}\n{"id": true, "readme": "x"}\n'
        + json.dumps({"id": "b", "readme": readme(1)}) + "\n"
    )
    output = tmp_path / "out.jsonl"
    summary = run_batch(source, output, workers=1)
    got = lines(output)
    assert [line["id"] for line in got] == ["a", "s", None, None, None, "b"] and summary.errors == 4
    assert got[1]["error"] == "README is not valid Unicode: lone surrogate at character 2"
    assert [line.get("error") for line in got[2:5]] == [
        "line 3: id is not valid Unicode (lone surrogate)",
        "line 4: id must be a finite number (NaN and Infinity are not JSON)",
        "line 5: id must be a string or number",
    ]
    assert "tags" in got[0] and "tags" in got[5]


def test_resume_past_damaged_middle_lines_keeps_everything_valid(tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", [{"id": i, "readme": readme(i)} for i in range(6)])
    output = tmp_path / "out.jsonl"
    run_batch(source, output, workers=1)
    good = output.read_bytes().splitlines(keepends=True)
    # Lines 1 and 4 lost to garbage, as after a power loss; the last line torn.
    output.write_bytes(good[0] + b"123\n" + b'["x"]\n' + b"\xff\xfe\n" + b"\x00" * 64 + b"\n" + good[2] + good[3]
                       + good[5][:9])
    assert completed_keys(output) == {"id:0", "id:2", "id:3"}
    assert output.read_bytes() == good[0] + good[2] + good[3]
    summary = run_batch(source, output, workers=1, resume=True)
    assert (summary.done, summary.skipped) == (3, 3)
    assert sorted(line["id"] for line in lines(output)) == list(range(6))


@pytest.mark.slow
def test_damaged_model_ends_a_multi_worker_run_with_one_error_line(tmp_path):
    from repotag.model import bundled_model_dir

    model = tmp_path / "model"
    model.mkdir()
    for name in ("model.json", "MODEL_CARD.md"):
        (model / name).write_bytes((bundled_model_dir() / name).read_bytes())
    (model / "weights.npz").write_bytes((bundled_model_dir() / "weights.npz").read_bytes()[:1000])
    source = write_jsonl(tmp_path / "in.jsonl", [{"id": i, "readme": readme(i)} for i in range(3)])
    done = subprocess.run([sys.executable, "-m", "repotag", "batch", str(source), "-o", str(tmp_path / "out.jsonl"),
                           "--model", str(model), "--workers", "2"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == (f"repotag: error: model in {model} is damaged or unreadable: BadZipFile: "
                           "File is not a zip file\n")


def test_parquet_ids_json_cannot_hold_become_error_records(tmp_path):
    import datetime

    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    source = tmp_path / "in.parquet"
    for column in (pa.array([b"\x00\x01", b"ok"]), pa.array([datetime.datetime(2024, 1, 1)] * 2)):
        pq.write_table(pa.table({"id": column, "readme": [readme(0), readme(1)]}), source)
        output = tmp_path / "out.jsonl"
        output.unlink(missing_ok=True)
        run_batch(source, output, workers=1)
        assert lines(output) == [{"id": None, "error": f"line {n}: id must be a string or number", "line": n} for n in (1, 2)]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full, a device that is always full")
def test_a_full_disk_is_one_error_not_a_traceback(tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "readme": readme(1)}])
    result = CliRunner().invoke(main, ["batch", str(source), "-o", "/dev/full", "--workers", "1"])
    assert result.exit_code == 2 and result.stderr == (
        "repotag: error: cannot write /dev/full: No space left on device; the results written before are kept, "
        "and --resume continues from them\n")
