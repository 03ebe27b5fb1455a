"""Every failure a client can cause, answered in OpenAI's error shape:
`{"error": {"message", "type", "param", "code"}}`, so OpenAI clients and the
UI show one readable line instead of a stack trace."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..engine import GenerationError

RETRY_AFTER_S = 2


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


def _printable(text: str) -> str:
    """A message or field name may quote the client's own text; a lone surrogate
    in it could not be encoded as the UTF-8 body, so it is shown escaped."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class ApiError(Exception):
    """A request the server refuses, with its HTTP status."""

    def __init__(self, status: int, message: str, param: str | None = None,
                 code: str | None = None, kind: str = "invalid_request_error",
                 headers: dict[str, str] | None = None):
        message, param = _printable(message), param and _printable(param)
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code
        self.kind, self.headers = kind, headers

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.kind,
                          "param": self.param, "code": self.code}}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def invalid(message: str, param: str | None = None, code: str = "invalid_value") -> ApiError:
    return ApiError(400, message, param, code)


def busy(queue_size: int) -> ApiError:
    return ApiError(503, f"the server is busy: {queue_size} request(s) already wait for the "
                         f"model; retry in {RETRY_AFTER_S} s", code="server_busy",
                    kind="server_error", headers={"Retry-After": str(RETRY_AFTER_S)})


def fitting(done: int, total: int) -> ApiError:
    return ApiError(503, f"fitting this model's thresholds on first use ({done}/{total} prompts "
                         f"done; GET /api/config shows first_fit); retry in {RETRY_AFTER_S} s, or "
                         "use a preset without fitted thresholds (greedy, entropix-paper)",
                    code="fitting_thresholds", kind="server_error",
                    headers={"Retry-After": str(RETRY_AFTER_S)})


def run_error(e: ValueError, prompt_param: str) -> ApiError:
    """An error `start_run` raised before generating: a too-long prompt is 413."""
    if isinstance(e, GenerationError):
        return ApiError(413, str(e), prompt_param, "context_length_exceeded")
    return invalid(str(e), prompt_param)


def generation_failed(e: BaseException) -> ApiError:
    return ApiError(500, f"generation failed: {type(e).__name__}: {e}", code="generation_failed",
                    kind="server_error")


# Declared on every route that takes a body, so /openapi.json tells the truth.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in [(400, "Invalid JSON or an invalid value"),
                         (413, "The prompt is longer than the model's context"),
                         (422, "A field is missing or has the wrong type"),
                         (503, "The queue is full; retry after Retry-After seconds")]
}


def _location(loc: tuple[Any, ...]) -> str | None:
    # Drop "body" and pydantic's union-member tags such as "function-after[...]" or "list[TextPart]".
    parts = [str(p) for p in loc if p != "body" and "[" not in str(p)]
    return ".".join(parts) or None


def _validation_error(exc: RequestValidationError) -> ApiError:
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request", "type": ""}
    if first.get("type") == "json_invalid":
        reason = (first.get("ctx") or {}).get("error") or first.get("msg")
        return ApiError(400, f"the request body is not valid JSON: {reason}", code="invalid_json")
    param = _location(tuple(first.get("loc", ())))
    if first.get("type") == "string_unicode":
        return invalid(f"{param} is not valid Unicode text (a lone surrogate); send UTF-8 text", param)
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return ApiError(422, f"{param or 'body'}: {first.get('msg')}{more}", param, "invalid_type")


def install_handlers(app: FastAPI) -> None:
    """Route every error (ours, validation, 404/405) through the OpenAI shape."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _validation_error(exc).response()

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return ApiError(exc.status_code, str(exc.detail), code=f"http_{exc.status_code}",
                        headers=getattr(exc, "headers", None)).response()
