"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, WithJsonSchema

from .._unicode import lone_surrogate_at
from ..backends._embedded import DEFAULT_MODEL_NAME
from ..batch._records import id_problem


def _valid_unicode(text: str) -> str:
    if lone_surrogate_at(text) is not None:
        raise ValueError("text is not valid Unicode (lone surrogate)")
    return text


#: A string that can be written back as UTF-8 (JSON's "\ud800" cannot).
Text = Annotated[str, Field(strict=True), AfterValidator(_valid_unicode)]


def _echoable_id(value: Any) -> Any:
    problem = None if value is None else id_problem(value)
    if problem:
        raise ValueError(problem)
    return value


# ---- request and response models -------------------------------------------
class TagIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: Union[StrictInt, Text]
    name: Text
    description: Optional[Text] = None


#: Ids are echoed exactly (no true -> 1 or 1.0 -> 1 coercion), by the rule batch records follow.
TagId = Annotated[Any, AfterValidator(_echoable_id), WithJsonSchema({"type": ["string", "number", "null"]})]


class TagRequest(BaseModel):
    """One README to tag. ``taxonomy`` replaces the default tag list for this request."""

    model_config = ConfigDict(extra="forbid")
    id: TagId = None
    readme: Text
    taxonomy: Optional[list[Union[TagIn, Text]]] = Field(default=None, min_length=1)
    max_tags: Optional[StrictInt] = Field(default=None, ge=1)
    #: No tag scoring under this is given (``"tags": []`` when nothing fits); default: the server's.
    min_score: Optional[float] = Field(default=None, ge=0, le=1)
    scores: bool = False


class BatchItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: TagId = None
    readme: Text


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[BatchItem] = Field(min_length=1)
    taxonomy: Optional[list[Union[TagIn, Text]]] = Field(default=None, min_length=1)
    max_tags: Optional[StrictInt] = Field(default=None, ge=1)
    min_score: Optional[float] = Field(default=None, ge=0, le=1)
    scores: bool = False


class TagOut(BaseModel):
    id: Union[int, str]
    name: str
    score: Optional[float] = None


class TagResponse(BaseModel):
    id: TagId = None
    tags: list[TagOut]


class BatchResponse(BaseModel):
    results: list[dict[str, Any]]


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: Optional[Text] = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str
    content: Union[Text, list[ContentPart], None] = None


class ResponseFormat(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: Literal["text", "json_object", "json_schema"]


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str = DEFAULT_MODEL_NAME
    messages: list[ChatMessage] = Field(min_length=1)
    response_format: Optional[ResponseFormat] = None
    stream: Optional[bool] = False
    n: Optional[int] = Field(default=1, ge=1, le=1)


