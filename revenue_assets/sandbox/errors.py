"""Stripe-shaped errors raised by the sandbox world and rendered by its server."""

from __future__ import annotations

from typing import Any


class SandboxError(Exception):
    """An API error with Stripe's JSON shape: `{"error": {"type", "code", "message", "param"}}`."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code is not None:
            error["code"] = self.code
        if self.param is not None:
            error["param"] = self.param
        return {"error": error}


def missing(resource: str, object_id: str, param: str = "id") -> SandboxError:
    """Stripe's 404 for an unknown object id."""
    return SandboxError(
        404,
        f"No such {resource}: '{object_id}'",
        code="resource_missing",
        param=param,
    )


def invalid(message: str, param: str | None = None) -> SandboxError:
    """Stripe's 400 for a bad parameter."""
    return SandboxError(400, message, code="parameter_invalid", param=param)
