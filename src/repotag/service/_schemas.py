"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field

from ..backends._embedded import DEFAULT_MODEL_NAME


# ---- request and response models -------------------------------------------
class TagIn(BaseModel):
    id: Union[int, str]
    name: str
    description: Optional[str] = None


TagId = Union[int, str, None]


class TagRequest(BaseModel):
    """One README to tag. ``taxonomy`` replaces the default tag list for this request."""

    model_config = ConfigDict(extra="forbid")
    id: TagId = None
    readme: str
    taxonomy: Optional[list[Union[TagIn, str]]] = Field(default=None, min_length=1)
    max_tags: Optional[int] = Field(default=None, ge=1)
    scores: bool = False


class BatchItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: TagId = None
    readme: str


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[BatchItem] = Field(min_length=1)
    taxonomy: Optional[list[Union[TagIn, str]]] = Field(default=None, min_length=1)
    max_tags: Optional[int] = Field(default=None, ge=1)
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
    text: Optional[str] = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str
    content: Union[str, list[ContentPart], None] = None


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


