"""OpenAI-shaped error responses and the mapping from ponder's typed errors to HTTP statuses."""

from __future__ import annotations

import json
from typing import Any

from fastapi.responses import JSONResponse

from ponder.core.errors import ContextOverflowError, EngineError, InvalidInputError, PonderError, UnknownNameError


class SafeJSONResponse(JSONResponse):
    """JSON as UTF-8, or with every non-ASCII character escaped when the text holds something
    UTF-8 cannot encode (a lone surrogate): rendering a response never fails on its text."""

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except UnicodeEncodeError:
            return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


class HTTPProblem(Exception):
    """An error to answer with ``status`` and an OpenAI error body."""

    def __init__(
        self, status: int, message: str, kind: str, code: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.code, self.headers = status, message, kind, code, headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.kind, "param": None, "code": self.code}}

    def response(self) -> JSONResponse:
        return SafeJSONResponse(self.body(), status_code=self.status, headers=self.headers)


def from_ponder_error(exc: PonderError) -> HTTPProblem:
    """400 for bad requests, 404 for unknown models, 502 when the model backend failed."""
    if isinstance(exc, UnknownNameError) and str(exc).startswith("model "):
        return HTTPProblem(404, str(exc), "invalid_request_error", "model_not_found")
    if isinstance(exc, (InvalidInputError, UnknownNameError, ContextOverflowError)):
        return HTTPProblem(400, str(exc), "invalid_request_error")
    if isinstance(exc, EngineError):
        return HTTPProblem(502, f"the model backend failed: {exc}", "upstream_error")
    return HTTPProblem(500, str(exc), "server_error")


def run_timeout(seconds: float) -> HTTPProblem:
    """504: the run did not stop at the request timeout (it was stuck in work that could not be
    interrupted) and has been cancelled."""
    return HTTPProblem(
        504,
        f"the request ran past this server's request timeout of {seconds:g} s and was cancelled",
        "timeout_error",
        "request_timeout",
    )


def internal_error(exc: BaseException) -> HTTPProblem:
    """500 for a failure ponder did not expect (logged by the caller); the message names only its type."""
    return HTTPProblem(
        500,
        f"internal server error ({type(exc).__name__}); the server's log has the details",
        "server_error",
        "internal_error",
    )
