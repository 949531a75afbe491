"""repotag: tag software repositories from their README with at most N tags from a controlled list.

>>> from repotag import Tagger
>>> tagger = Tagger.load()
>>> tagger.tag(open("README.md").read(), id="6186").to_dict()

Layout, in pipeline order: ``pipeline/`` (reading, cleaning, features), ``model/``
(the estimator and its card), ``training/``, ``evaluation/``, ``backends/`` (what
scores READMEs), the core (``Tagger``: rules and results), then ``batch/`` and
``service/`` on top of it, and ``cli``.
"""

from ._config import Settings
from ._errors import BackendError, BackendTimeout, ConfigError, InputError, ModelError, PromptError, RepotagError, TaxonomyError
from ._prompt import TaggingPrompt, parse_prompt
from ._rules import DecisionPolicy, ScoredTag
from ._tagger import Record, Tagger, TagResult
from ._taxonomy import Tag, Taxonomy

__version__ = "0.1.0"

__all__ = [
    "BackendError",
    "BackendTimeout",
    "ConfigError",
    "DecisionPolicy",
    "InputError",
    "ModelError",
    "PromptError",
    "Record",
    "RepotagError",
    "ScoredTag",
    "Settings",
    "Tag",
    "TagResult",
    "Tagger",
    "TaggingPrompt",
    "Taxonomy",
    "TaxonomyError",
    "parse_prompt",
]
