"""Stage 1 of the pipeline: README bytes -> text (Chinese read as English) -> cleaned prose -> feature vectors."""

from ._cleaning import CJK_README_SHARE, MAX_CLEAN_CHARS, MAX_RAW_CHARS, CleanReadme, cjk_share, clean_readme
from ._features import DEFAULT_MAX_TOKENS, LexicalFeatures, SentenceEncoder, document_text, repository_name
from ._glossary import ChineseGlossary, gloss_chinese
from ._reading import MAX_README_BYTES, ReadmeSource, as_text, decode_readme, read_json_lines, read_readme_file

__all__ = [
    "CJK_README_SHARE", "DEFAULT_MAX_TOKENS", "MAX_CLEAN_CHARS", "MAX_RAW_CHARS", "MAX_README_BYTES", "ChineseGlossary",
    "CleanReadme",
    "LexicalFeatures",
    "ReadmeSource", "SentenceEncoder", "as_text", "cjk_share", "clean_readme", "decode_readme", "document_text",
    "gloss_chinese", "read_json_lines", "read_readme_file", "repository_name",
]
