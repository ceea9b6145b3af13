"""OpenAI-shaped error responses and the mapping from ponder's typed errors to HTTP statuses."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from ponder.core.errors import ContextOverflowError, EngineError, InvalidInputError, PonderError, UnknownNameError


class HTTPProblem(Exception):
    """An error to answer with ``status`` and an OpenAI error body."""

    def __init__(
        self, status: int, message: str, kind: str, code: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.code, self.headers = status, message, kind, code, headers or {}

    def response(self) -> JSONResponse:
        body = {"error": {"message": self.message, "type": self.kind, "param": None, "code": self.code}}
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def from_ponder_error(exc: PonderError) -> HTTPProblem:
    """400 for bad requests, 404 for unknown models, 502 when the model backend failed."""
    if isinstance(exc, UnknownNameError) and str(exc).startswith("model "):
        return HTTPProblem(404, str(exc), "invalid_request_error", "model_not_found")
    if isinstance(exc, (InvalidInputError, UnknownNameError, ContextOverflowError)):
        return HTTPProblem(400, str(exc), "invalid_request_error")
    if isinstance(exc, EngineError):
        return HTTPProblem(502, f"the model backend failed: {exc}", "upstream_error")
    return HTTPProblem(500, str(exc), "server_error")
