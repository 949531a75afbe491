from repotag.pipeline import CleanReadme, clean_readme


def test_markdown_badges_links_images_and_code_are_removed():
    text = """# nom, eating data byte by byte

[![LICENSE](https://img.shields.io/badge/license-MIT-blue.svg)](LICENSE)
[![Build](https://travis-ci.org/x.svg)](https://travis-ci.org/x)

nom is a [parser combinators](https://en.wikipedia.org/wiki/Parser_combinator) library written in **Rust**.

![logo](https://example.com/logo.png)

```rust
fn main() { println!("not prose"); }
```
"""
    clean = clean_readme(text)
    assert clean.title == "nom, eating data byte by byte"
    assert clean.body == "nom is a parser combinators library written in Rust."
    assert clean.text == "nom, eating data byte by byte. nom is a parser combinators library written in Rust."


def test_boilerplate_sections_and_toc_are_skipped():
    text = """# Tool
## Table of Contents
- [Install](#install)
- [Usage](#usage)
## Installation
pip install tool
## Usage
Tool is a command-line tool that renames files.
## License
MIT
"""
    assert clean_readme(text).body == "Tool is a command-line tool that renames files."


def test_html_header_is_reduced_to_text():
    text = """<div align="center">
<h1>Fancy</h1>
<img src="logo.png" alt="logo"/>
<p><a href="https://x.io">Website</a> • <a href="https://x.io/docs">Docs</a> • <a href="https://x.io/chat">Chat</a></p>
</div>
<!-- hidden comment -->
Fancy is a web framework for Go &amp; friends.
"""
    clean = clean_readme(text)
    assert clean.title == "Fancy"
    assert clean.body == "Fancy is a web framework for Go & friends."


def test_restructuredtext():
    text = """PyYAML
======

.. image:: https://badge.svg
   :target: https://ci

A full-featured YAML processing framework for Python.

Testing
-------
Run the tests with `python setup.py test <https://x>`_.
"""
    clean = clean_readme(text)
    assert clean.title == "PyYAML"
    assert clean.body == "A full-featured YAML processing framework for Python."


def test_descriptive_sentence_leads():
    text = "# X\n## News\nVersion 2 released!\n## About\nX is a database for time series.\n"
    assert clean_readme(text).body.startswith("X is a database for time series.")


def test_chinese_text_is_kept_and_chinese_boilerplate_dropped():
    text = "# ChatGLM\n\nChatGLM 是一个开源的对话语言模型。\n\n## 安装\npip install x\n"
    assert clean_readme(text).body == "ChatGLM 是一个开源的对话语言模型。"


def test_empty_and_tiny():
    assert clean_readme("").text == ""
    assert clean_readme("packages/zod/README.md").text == "packages/zod/README.md"


def test_output_is_capped():
    text = "# T\n" + ("word " * 100 + "\n\n") * 2000
    assert len(clean_readme(text, max_chars=500).body) <= 500


def test_pathological_lines_from_the_attack_report_clean_at_once():
    # Each took seconds to minutes with the backtracking patterns (cubic ATX heading,
    # quadratic table rule and emphasis); the fuzz suite checks the growth in general.
    assert clean_readme("# D\n\nD is a web framework.\n\n#a" + " " * 1500 + "b") == CleanReadme("D", "D is a web framework.")
    assert clean_readme("# T\n\n" + " " * 20_000 + "| --- x").body == "--- x"
    assert clean_readme("# T\n\nT is a tool. " + "*a " * 20_000).body.startswith("T is a tool. *a *a *a")


def test_atx_headings_and_table_rules_without_backtracking_patterns():
    readme = "# Title ##\n\n| a | b |\n| --- | :---: |\n\n## C#\n\nText.\n\n####### seven\n\n|---|---|\n"
    # As the old patterns did: "|a|" reads as an rST substitution; 7 hashes make a heading "# seven".
    assert clean_readme(readme) == CleanReadme("Title", "b Text.")


def test_links_with_parentheses_and_unclosed_openers():
    readme = "# X\n\nX is a tool. [![v](https://img.shields.io/x-(stable))](https://pypi.org/x) " + "[![" * 3000
    # The badge's URL holds parentheses: it goes whole (the old pattern left a stray ")").
    assert clean_readme(readme).body.startswith("X is a tool. [![[![")
