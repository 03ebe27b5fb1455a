"""Request bodies. Scalars are strict (no "5" for 5, no true for 1) so a
wrong type is a clear 422, never a silent conversion. OpenAI bodies ignore
fields we do not implement (clients send many); the native body forbids them,
since only our UI sends it and a typo there should be loud."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from ..engine import SEED_LIMIT
from ..runner import NormalParams
from ..sampler.config import DEFAULT_PRESET
from ..text import TextError, checked_text

MAX_STOPS = 4
MAX_TOP_LOGPROBS = 5  # the engine records the 5 most probable alternatives per token

Float = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Int = Annotated[int, Field(strict=True)]


def _unicode(text: str) -> str:
    """Refuse a lone surrogate (valid JSON, but no text the tokenizer can encode)
    as pydantic itself does for constrained strings, so every field answers alike."""
    try:
        return checked_text(text, "the text")
    except TextError as e:
        raise PydanticCustomError("string_unicode", str(e)) from None


Str = Annotated[str, Field(strict=True), AfterValidator(_unicode)]
Bool = Annotated[bool, Field(strict=True)]
PositiveInt = Annotated[int, Field(strict=True, ge=1)]
Seed = Annotated[int, Field(strict=True, ge=0, lt=SEED_LIMIT)]
Sampler = Literal["entropix", "normal", "greedy"]


class TextPart(BaseModel):
    type: Literal["text"]
    text: Str


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: Str | list[TextPart]

    def plain(self) -> dict[str, str]:
        """The message as the chat template takes it (text parts joined)."""
        text = self.content if isinstance(self.content, str) else "".join(p.text for p in self.content)
        return {"role": self.role, "content": text}


class StreamOptions(BaseModel):
    include_usage: Bool = False


class _OpenAIRequest(BaseModel):
    """Fields /v1/chat/completions and /v1/completions share."""

    model_config = ConfigDict(extra="ignore")

    model: Str | None = Field(None, description="Ignored: the server serves the model it started with.")
    max_tokens: PositiveInt | None = None
    temperature: Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)] | None = None
    top_p: Annotated[float, Field(strict=True, gt=0, le=1)] | None = None
    top_k: Annotated[int, Field(strict=True, ge=0)] | None = Field(None, description="0 = off")
    min_p: Annotated[float, Field(strict=True, ge=0, lt=1)] | None = None
    seed: Seed | None = Field(None, description="Same seed, same request: same text. Random when absent.")
    stop: Str | Annotated[list[Str], Field(max_length=MAX_STOPS)] | None = None
    stream: Bool = False
    stream_options: StreamOptions | None = None
    n: Annotated[int, Field(strict=True, ge=1, le=1)] = 1
    sampler: Sampler | None = Field(None, description="Decoding method; the server's default when absent.")
    sampler_config: dict[str, Any] | None = Field(
        None, description="SamplerConfig field overrides for the entropix sampler (see /api/config).")

    def stops(self) -> list[str]:
        if self.stop is None:
            return []
        stops = [self.stop] if isinstance(self.stop, str) else self.stop
        return [s for s in stops if s]


class ChatCompletionRequest(_OpenAIRequest):
    messages: Annotated[list[ChatMessage], Field(min_length=1)]
    max_completion_tokens: PositiveInt | None = None
    logprobs: Bool = False
    top_logprobs: Annotated[int, Field(strict=True, ge=0, le=MAX_TOP_LOGPROBS)] | None = None


class CompletionRequest(_OpenAIRequest):
    prompt: Annotated[Str, Field(min_length=1)]
    logprobs: Annotated[int, Field(strict=True, ge=0, le=MAX_TOP_LOGPROBS)] | None = None


class NormalSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    temperature: Float = NormalParams.temperature
    top_p: Float = NormalParams.top_p
    min_p: Float = NormalParams.min_p
    top_k: Int = NormalParams.top_k


class GenerateRequest(BaseModel):
    """The native /api/generate body (docs/api.md)."""

    model_config = ConfigDict(extra="forbid")

    messages: Annotated[list[ChatMessage], Field(min_length=1)]
    method: Sampler | None = None
    preset: Str = DEFAULT_PRESET
    config: dict[str, Any] = Field(default_factory=dict)
    normal: NormalSettings = Field(default_factory=NormalSettings)
    seed: Seed = 0
    max_tokens: PositiveInt | None = None
    layers: Bool = Field(False, description="Each token also carries its attention entropy per layer and head "
                                             "(`layers` in the trace format; the UI's heatmap).")
