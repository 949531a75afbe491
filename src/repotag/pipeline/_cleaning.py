"""Cleaning a README into the text that says what the project is.

Markdown, reStructuredText and HTML headers are reduced to plain prose:
badges, images, link targets, code blocks, tables of contents and the
boilerplate sections (installation, licence, contributing...) are dropped,
the title and the first sections are kept. Annotators read the start of a
README; so does the model, and most of what follows is set-up noise.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

#: Characters of raw README examined; later text never reaches the model.
MAX_RAW_CHARS = 120_000
#: Characters of cleaned body text kept.
MAX_CLEAN_CHARS = 4_000
#: Longest emphasised span unwrapped. Every pattern here runs in time linear in the text
#: (bounded spans, scans that stop at the next opener); this bound is one of those.
MAX_EMPHASIS_CHARS = 300

_SKIPPED_SECTIONS = re.compile(
    r"^(table of contents|contents|toc|index|install(ation|ing)?|getting started|quick ?start|setup|"
    r"build(ing)?( from source)?|compil(e|ing)|requirements|prerequisites|dependencies|"
    r"licen[cs]e|copyright|contribut(e|ing|ors?|ion)|acknowledge?ments?|thanks|credits|"
    r"citation|cite|citing|sponsors?|backers|supporters|donat(e|ion)s?|star history|stargazers|"
    r"changelog|change log|release notes|news|latest news|updates|faq|community|support|contact|"
    r"code of conduct|security|authors?|maintainers?|team|license and copyright|"
    r"(gold |silver |bronze |platinum |premium )?sponsors?|development|development setup|"
    r"development instructions|developing|documentation|docs|getting help|help|found a bug|"
    r"tests?|testing|running tests|benchmarks? results|status|roadmap|translations?|"
    r"安装|许可|协议|开源协议|引用|致谢|贡献|目录|更新|更新信息|友情链接|联系我们)\b",
    re.IGNORECASE,
)

_FENCED_CODE = re.compile(r"^ {0,3}(```|~~~)[^\n]*\n.*?(^ {0,3}\1[^\n]*$|\Z)", re.MULTILINE | re.DOTALL)
_HTML_COMMENT = re.compile(r"<!--.*?(-->|\Z)", re.DOTALL)
_HTML_DROP_BLOCK = re.compile(r"<(script|style|svg|picture)\b.*?(</\1\s*>|\Z)", re.IGNORECASE | re.DOTALL)
_HTML_BREAK = re.compile(r"<\s*(br|/p|/div|/h[1-6]|/li|/tr|p|div|li|tr|h[1-6])\b[^<>]*>", re.IGNORECASE)
_HTML_HEADING = re.compile(r"<h([1-6])\b[^<>]*>((?:[^<]|<(?!/?h[1-6]\b))*?)</h\1\s*>", re.IGNORECASE)
_HTML_TAG = re.compile(r"</?[a-zA-Z][^<>]*>")
_LINK_TARGET = r"\((?:[^()]|\([^()]*\))*\)"  # one level of parentheses inside, as in URLs
_MD_BADGE_LINK = re.compile(r"\[!\[[^][]*\]" + _LINK_TARGET + r"\]" + _LINK_TARGET + r"|\[!\[[^][]*\]\[[^][]*\]\]\[[^][]*\]")
_MD_IMAGE = re.compile(r"!\[[^][]*\]" + _LINK_TARGET + r"|!\[[^][]*\]\[[^][]*\]")
_MD_LINK = re.compile(r"\[([^][]*)\]" + _LINK_TARGET + r"|\[([^][]+)\]\[[^][]*\]")
_MD_REF_DEF = re.compile(r"^ {0,3}\[[^]\n]+\]:\s*\S+.*$", re.MULTILINE)
_TOC_ITEM = re.compile(r"^[ \t]*(?:[-*+]|\d+\.)[ \t]*\[[^]\n]*\]\(#[^)\n]*\)[ \t]*$", re.MULTILINE)
_RST_DIRECTIVE = re.compile(r"^\.\. [^\n]*(?:\n(?:[ \t][^\n]*)?(?=\n))*", re.MULTILINE)
_RST_SUBSTITUTION = re.compile(r"\|[\w .-]+\|_{0,2}")
_RST_ROLE = re.compile(r":[\w-]+:`([^`<]*)(?:<[^>`]*>)?`")
_RST_LINK = re.compile(r"`([^`<]+)<[^>`]+>`_{1,2}")
_URL = re.compile(r"(?:https?|ftp)://\S+|www\.\S+")
_INLINE_CODE = re.compile(r"`{1,3}([^`\n]{0,80})`{1,3}")
_EMPHASIS = re.compile(r"(\*{1,3}|_{2,3})(\S(?:.{0,%d}?\S)?)\1" % MAX_EMPHASIS_CHARS)
_TABLE_CELL_RULE = re.compile(r":?-{3,}:?")
_SETEXT_RULE = re.compile(r"^\s*([=\-~^\"'`#*+])\1{2,}\s*$")
_ATX_OPENING = re.compile(r" {0,3}(#{1,6})")
_LIST_MARK = re.compile(r"^\s*(?:[-*+•]|\d+[.)])\s+")
_LEADING_SYMBOLS = re.compile(r"^[^\w(\[]+")
_NAV_SEPARATORS = re.compile(r"\s[•·|]\s|\s-\s")
#: Sentences that say what a project is ("X is a ...", "X: a fast ...").
_DESCRIPTIVE = re.compile(
    r"\b(is|are)\s+(a|an|the|your|one)\b|\b(a|an)\s+\w+[- ]?(library|framework|tool|platform|engine|"
    r"server|client|runtime|compiler|language|app|application|system|database|toolkit|implementation)\b"
    r"|是一个|是一款",
    re.IGNORECASE,
)
_WHITESPACE = re.compile(r"[ \t\u00a0\u3000]+")


@dataclass(frozen=True)
class CleanReadme:
    """A README reduced to its title and descriptive prose."""

    title: str
    body: str

    @property
    def text(self) -> str:
        if self.title and not self.body.startswith(self.title):
            return f"{self.title}. {self.body}".strip()
        return self.body


def _strip_markup(text: str) -> str:
    text = _HTML_COMMENT.sub(" ", text)
    text = _FENCED_CODE.sub("\n", text)
    text = _HTML_DROP_BLOCK.sub(" ", text)
    text = _HTML_HEADING.sub(lambda m: "\n" + "#" * int(m.group(1)) + " " + m.group(2) + "\n", text)
    text = _HTML_BREAK.sub("\n", text)
    text = _HTML_TAG.sub(" ", text)
    text = html.unescape(text)
    text = _TOC_ITEM.sub("", text)
    text = _MD_BADGE_LINK.sub(" ", text)
    text = _MD_IMAGE.sub(" ", text)
    text = _MD_REF_DEF.sub("", text)
    text = _MD_LINK.sub(lambda m: m.group(1) or m.group(2) or "", text)
    text = _RST_DIRECTIVE.sub("", text)
    text = _RST_LINK.sub(_rst_link_text, text)
    text = _RST_ROLE.sub(r"\1", text)
    text = _RST_SUBSTITUTION.sub(" ", text)
    text = _URL.sub(" ", text)
    return text


def _rst_link_text(match: re.Match) -> str:
    # The link text without the spaces before its target; a text of spaces only keeps one.
    text = match.group(1)
    return text.rstrip() or text[0]


def _atx_heading(line: str) -> tuple[int, str] | None:
    r"""(level, text) of a Markdown ``# heading`` line, closing hashes removed, else ``None``.

    String operations, not one pattern: ``#\s*(.*?)\s*#*\s*$`` backtracks in cubic
    time on a long line of spaces.
    """
    opening = _ATX_OPENING.match(line)
    if not opening:
        return None
    text = line[opening.end():].strip().rstrip("#").rstrip()
    return len(opening.group(1)), text


def _is_table_rule(line: str) -> bool:
    """A Markdown table's header rule, such as ``| --- | :---: |``."""
    row = line.strip()
    row = row[1:] if row.startswith("|") else row
    row = row[:-1] if row.endswith("|") else row
    return all(_TABLE_CELL_RULE.fullmatch(cell.strip()) for cell in row.split("|"))


def _sections(lines: list[str]) -> list[tuple[int, str, list[str]]]:
    """Split lines into (level, heading, body lines); level 0 is text before any heading."""
    sections: list[tuple[int, str, list[str]]] = [(0, "", [])]
    index = 0
    while index < len(lines):
        line = lines[index]
        atx = _atx_heading(line)
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if atx and atx[1]:
            sections.append(atx + ([],))
        elif line.strip() and _SETEXT_RULE.match(following) and not _SETEXT_RULE.match(line):
            level = 1 if following.strip()[0] in "=#*" else 2
            sections.append((level, line.strip(), []))
            index += 1
        elif _SETEXT_RULE.match(line):
            pass  # rst overlines and horizontal rules
        else:
            sections[-1][2].append(line)
        index += 1
    return sections


def _prose(lines: list[str]) -> list[str]:
    """Readable lines: tables flattened, list markers and emphasis removed."""
    kept = []
    for line in lines:
        if _is_table_rule(line):
            continue
        line = line.replace("|", " ")
        line = _LIST_MARK.sub("", line)
        line = line.lstrip("> ")
        line = _INLINE_CODE.sub(r"\1", line)
        line = _EMPHASIS.sub(r"\2", line)
        line = _WHITESPACE.sub(" ", line).strip()
        # A line with no letter at all is decoration (dividers, emoji rows).
        if line and any(ch.isalpha() for ch in line) and not _is_navigation(line):
            kept.append(line)
    return kept


def _is_navigation(line: str) -> bool:
    """Link bars such as "Website • Docs • Discord" left after link text is kept."""
    segments = [seg for seg in _NAV_SEPARATORS.split(line) if seg.strip()]
    return len(segments) >= 3 and sum(len(seg) for seg in segments) / len(segments) < 25


def _clean_heading(heading: str) -> str:
    heading = _EMPHASIS.sub(r"\2", _INLINE_CODE.sub(r"\1", heading))
    heading = _WHITESPACE.sub(" ", heading).strip(" :-#*")
    # Emoji and symbols often lead headings ("📖 Table of Contents").
    return _LEADING_SYMBOLS.sub("", heading)


def clean_readme(text: str, max_chars: int = MAX_CLEAN_CHARS) -> CleanReadme:
    """Reduce README text (any markup) to its title and the prose that describes the project."""
    text = text[:MAX_RAW_CHARS].replace("\r\n", "\n").replace("\r", "\n").replace("\ufeff", "")
    lines = _strip_markup(text).split("\n")
    title = ""
    parts: list[str] = []
    size = 0
    skip_level = 0  # inside a skipped section until a heading at this level or above
    for level, heading, body in _sections(lines):
        heading = _clean_heading(heading)
        if level and skip_level and level > skip_level:
            continue
        skip_level = 0
        if level and _SKIPPED_SECTIONS.match(heading):
            skip_level = level
            continue
        # Only a top-level heading names the project; "Features" or "Why?" do not.
        if heading and not title and level == 1:
            title = heading
        for line in _prose(body):
            parts.append(line)
            size += len(line) + 1
        if size >= max_chars:
            break
    # The sentence saying what the project is leads, wherever badges or news pushed it.
    lead = next((i for i, part in enumerate(parts[:30]) if _DESCRIPTIVE.search(part)), None)
    if lead:
        parts.insert(0, parts.pop(lead))
    body_text = " ".join(parts)[:max_chars].strip()
    # Without a top-level heading there is no title: the body already leads with the
    # descriptive sentence, and a guessed title was usually a stray heading ("Features").
    return CleanReadme(title=title[:200], body=body_text)


#: Han ideographs, kana and hangul: the scripts whose words are not separated by spaces.
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
#: The share of CJK characters in a README's cleaned opening from which it counts as Chinese (or mixed).
CJK_README_SHARE = 0.05


def cjk_share(text: str, chars: int = 2000) -> float:
    """The share of CJK characters among the non-space characters of the text's opening."""
    opening = "".join(text[:chars].split())
    return len(_CJK.findall(opening)) / len(opening) if opening else 0.0
