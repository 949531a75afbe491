import json

import pytest

pytest.importorskip("ray")

from repotag import InputError  # noqa: E402
from repotag.batch import (
    run_batch,  # noqa: E402
    run_ray,  # noqa: E402
)
from test_batch import readme, write_jsonl  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local_ray():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def by_id(path):
    return {row["id"]: row for row in map(json.loads, path.read_text().splitlines())}


def test_ray_output_equals_local_engine(local_ray, tmp_path):
    rows = [{"id": f"org/repo-{i}", "readme": readme(i)} for i in range(120)]
    rows += [{"id": "empty", "readme": ""}, {"id": "nul", "readme": "a\u0000b"}]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    run_batch(source, tmp_path / "local.jsonl", workers=1)
    summary = run_ray(source, tmp_path / "ray.jsonl", concurrency=2, batch_size=16)
    assert summary.done == 122 and summary.errors == 1
    assert by_id(tmp_path / "ray.jsonl") == by_id(tmp_path / "local.jsonl")


def test_ray_parquet_in_and_out(local_ray, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"id": i, "readme": readme(i)} for i in range(20)]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "in.parquet")
    run_ray(tmp_path / "in.parquet", tmp_path / "out", concurrency=1)
    table = pq.read_table(tmp_path / "out")
    results = {json.loads(i): json.loads(r) for i, r in zip(table["id"].to_pylist(), table["result"].to_pylist())}
    run_batch(tmp_path / "in.parquet", tmp_path / "local.jsonl", workers=1)
    assert results == by_id(tmp_path / "local.jsonl")
    renamed = [{"repo": r["id"], "text": r["readme"], "id": "other"} for r in rows]
    pq.write_table(pa.Table.from_pylist(renamed), tmp_path / "renamed.parquet")
    run_ray(tmp_path / "renamed.parquet", tmp_path / "renamed.jsonl", concurrency=1, columns=("repo", "text"))
    assert by_id(tmp_path / "renamed.jsonl") == by_id(tmp_path / "local.jsonl")


def test_ray_input_errors(local_ray, tmp_path):
    (tmp_path / "in.jsonl").write_text('{"name": "x"}\n')
    with pytest.raises(InputError, match="input lacks column"):
        run_ray(tmp_path / "in.jsonl", tmp_path / "o.jsonl")
    with pytest.raises(InputError, match="input not found"):
        run_ray(tmp_path / "missing.jsonl", tmp_path / "o2.jsonl")


def test_ray_start_up_errors_are_one_clear_error_before_any_actor(local_ray, tmp_path):
    import shutil

    from repotag import RepotagError, Settings
    from repotag.model import bundled_model_dir

    source = write_jsonl(tmp_path / "in.jsonl", [{"id": 1, "readme": readme(1)}])
    with pytest.raises(RepotagError) as info:
        run_ray(source, tmp_path / "o.jsonl", max_tags=91)
    assert str(info.value) == "max_tags 91 exceeds the taxonomy size (90 tags)"
    damaged = tmp_path / "model"
    shutil.copytree(bundled_model_dir(), damaged)
    with open(damaged / "weights.npz", "r+b") as weights:
        weights.truncate(1000)
    with pytest.raises(RepotagError) as info:
        run_ray(source, tmp_path / "o2.jsonl", settings=Settings(model=damaged))
    assert str(info.value) == (f"model in {damaged} is damaged or unreadable: BadZipFile: File is not a zip file")
    assert not (tmp_path / "o2.jsonl").exists()


def test_ray_resume_tags_only_what_is_missing(local_ray, tmp_path):
    rows = [{"id": i, "readme": readme(i)} for i in range(30)]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    run_batch(source, tmp_path / "local.jsonl", workers=1)
    full = (tmp_path / "local.jsonl").read_text().splitlines(keepends=True)
    partial = tmp_path / "ray.jsonl"
    partial.write_text("".join(full[:12]) + full[12][:9])  # 12 whole lines and a torn one
    with pytest.raises(InputError, match="exists: pass --resume"):
        run_ray(source, partial)
    summary = run_ray(source, partial, concurrency=1, resume=True)
    assert summary.skipped == 12 and summary.done == 18
    lines = partial.read_text().splitlines()
    assert sorted(json.loads(line)["id"] for line in lines) == list(range(30))
    assert by_id(partial) == by_id(tmp_path / "local.jsonl")
    with pytest.raises(InputError, match="resumes a local .jsonl output only"):
        run_ray(source, tmp_path / "dir", resume=True)
