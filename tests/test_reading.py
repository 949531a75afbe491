import codecs

import pytest

from repotag import InputError
from repotag.pipeline import MAX_README_BYTES, as_text, decode_readme, read_readme_file


def test_utf8_with_and_without_bom():
    assert decode_readme("# Tïtle".encode()) == "# Tïtle"
    assert decode_readme(codecs.BOM_UTF8 + "# Tïtle".encode()) == "# Tïtle"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_with_or_without_bom(encoding):
    assert decode_readme("# Hello 世界\nA CLI tool".encode(encoding)) == "# Hello 世界\nA CLI tool"


def test_binary_is_refused_with_one_line():
    with pytest.raises(InputError) as info:
        decode_readme(bytes(range(256)) * 20)
    assert str(info.value) == "input is binary, not text: give a README in UTF-8 or UTF-16"
    with pytest.raises(InputError):
        as_text("abc\x00\x00def")


def test_large_input_reads_a_capped_prefix():
    text = decode_readme(b"a" * (MAX_README_BYTES * 3))
    assert len(text) == MAX_README_BYTES
    assert len(as_text("b" * (MAX_README_BYTES + 5))) == MAX_README_BYTES


def test_cut_inside_a_multibyte_character_still_decodes():
    data = ("é" * MAX_README_BYTES).encode()
    assert decode_readme(data).startswith("éé")


def test_file_errors(tmp_path):
    with pytest.raises(InputError, match="^file not found: /no/such/README.md$"):
        read_readme_file("/no/such/README.md")
    with pytest.raises(InputError, match="^no README file in directory"):
        read_readme_file(tmp_path)


def test_same_binary_rule_for_bytes_and_text():
    for readme in (b"\x00\x01bin", "\x00\x01bin", b"abc\x00def", "abc\x00def"):
        with pytest.raises(InputError, match="^input is binary, not text: give a README in UTF-8 or UTF-16$"):
            as_text(readme)


def test_directory_gzip_and_url(tmp_path):
    import gzip

    (tmp_path / "CONTRIBUTING.md").write_text("how to help")
    (tmp_path / "readme.rst").write_text("rst readme")
    assert read_readme_file(tmp_path) == "rst readme"
    (tmp_path / "README.md").write_text("md readme")
    assert read_readme_file(tmp_path) == "md readme"  # README.md wins over other READMEs
    (tmp_path / "x.md.gz").write_bytes(gzip.compress("# zipped\nA tool".encode()))
    assert read_readme_file(tmp_path / "x.md.gz") == "# zipped\nA tool"
    (tmp_path / "bad.gz").write_bytes(b"not gzip")
    with pytest.raises(InputError, match="^cannot read .*bad.gz: "):
        read_readme_file(tmp_path / "bad.gz")
    with pytest.raises(InputError, match="^URLs are not fetched .*: https://github.com/a/b$"):
        read_readme_file("https://github.com/a/b")


def test_wrong_type():
    with pytest.raises(InputError, match="README must be text or bytes, not int"):
        as_text(3)


def test_read_json_lines(tmp_path):
    from repotag.pipeline import read_json_lines

    path = tmp_path / "x.jsonl"
    path.write_text('{"id": 1, "tags": []}\n\n{"id": 2, "tags": ["a"]}\n')
    assert list(read_json_lines(path, ("id", "tags"))) == [(1, {"id": 1, "tags": []}), (3, {"id": 2, "tags": ["a"]})]
    path.write_text('{"id": 1, "tags": []}\n[1, 2]\n')
    with pytest.raises(InputError) as info:
        list(read_json_lines(path, ("id", "tags")))
    assert str(info.value) == f"{path}:2: expected a JSON object with 'id' and 'tags'"
    with pytest.raises(InputError, match="cannot read"):
        list(read_json_lines(tmp_path / "missing.jsonl", ("id",)))
