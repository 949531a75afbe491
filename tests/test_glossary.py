import gzip
import json

import pytest

from repotag.pipeline import document_text
from repotag.pipeline._glossary import ChineseGlossary, gloss_chinese, has_han, read_dictionary, software_terms

# Entries in CC-CEDICT's format; 书店 is both a town (a name) and a bookshop.
DICTIONARY = """\
# CC-CEDICT
書店 书店 [Shu1 dian4] /Shudian town/
書店 书店 [shu1 dian4] /bookstore/book shop/
開源 开源 [kai1 yuan2] /to expand one's financial resources/abbr. for 開放源碼|开放源码[kai1 fang4 yuan2 ma3]/
開放源碼 开放源码 [kai1 fang4 yuan2 ma3] /open source/
系統 系统 [xi4 tong3] /system/CL:個|个[ge4]/
框 框 [kuang1] /frame/
架 架 [jia4] /to support/frame/rack/
框架 框架 [kuang4 jia4] /(construction) frame/(fig.) framework/
的 的 [de5] /of; ~'s (possessive particle)/
貓 猫 [mao1] /see 貓兒|猫儿[mao1 r5]/
"""


@pytest.fixture
def glossary(tmp_path):
    path = tmp_path / "cedict.txt.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write(DICTIONARY)
    return ChineseGlossary(path)


def test_dictionary_keeps_a_common_word_over_a_name_and_both_scripts(tmp_path, glossary):
    entries = read_dictionary(glossary.path)
    assert entries["书店"] == (False, "bookstore/book shop/\n")
    assert entries["開源"] == entries["开源"]


def test_gloss_takes_short_senses_follows_abbreviations_and_drops_notes(glossary):
    assert glossary.gloss("书店") == "bookstore"
    assert glossary.gloss("商城") == "online shop e-commerce"  # a software term, not in this dictionary
    assert glossary.gloss("开源") == "open source"  # "abbr. for 开放源码"; the 5-word sense is left out
    assert glossary.gloss("系统") == "system"  # "CL:..." is a note
    assert glossary.gloss("猫") == ""  # a cross-reference only
    assert glossary.gloss("框架") == "framework"  # the software term wins over "frame"
    assert glossary.gloss("不存在") == ""


def test_gloss_run_matches_longest_words_and_drops_grammar_and_unknown_characters(glossary):
    assert glossary.gloss_run("开源的框架") == "open source framework"
    assert glossary.gloss_run("框架书店猫龘") == "framework bookstore"
    assert glossary.gloss_run("的的的") == ""


def test_translate_replaces_only_han_text(glossary):
    assert glossary.translate("# Shop\n\n开源的书店系统 (Spring Boot)") == "# Shop\n\n open source bookstore system (Spring Boot)"
    assert glossary.translate("plain English, ひらがな") == "plain English, ひらがな"
    assert not has_han(glossary.translate("龘龘 猫 的"))


def test_software_terms_are_han_words_with_english_glosses():
    terms = software_terms()
    assert terms["低代码"] == "low-code" and len(terms) > 300
    assert all(has_han(word) and gloss and not has_han(gloss) for word, gloss in terms.items())


def test_the_shipped_dictionary_reads_chinese_readmes():
    assert gloss_chinese("低代码开发平台") == " low-code development platform "
    assert gloss_chinese("一个开源的电商系统") == " a open source e-commerce system "


def test_no_han_character_reaches_the_model():
    text = document_text("# 项目\n\n这是一个用于机器学习的龘工具。\n\n## 安装\n\npip install x", "demo")
    assert text == "demo. project. is a use in machine learning tool 。"  # the installation section is left out
    assert not has_han(document_text(json.dumps([chr(c) for c in range(0x4E00, 0x4E00 + 3000, 7)])))


def test_han_text_in_an_english_readme_is_dropped_not_glossed():
    readme = "# Tool\n\n[English](README.md) | [简体中文](README.zh.md)\n\n" + "A fast command-line tool for search. " * 20
    text = document_text(readme, "tool")
    assert "Chinese" not in text and not has_han(text)
    assert text == document_text(readme.replace("简体中文", ""), "tool")
