"""The westward exception tree: every error a user can cause or see is one of these."""

from __future__ import annotations

from dataclasses import dataclass


class RouterError(Exception):
    """Base of every westward error."""


@dataclass(frozen=True)
class FieldProblem:
    """One thing wrong with an input: where (field path, optional file and line) and what."""

    path: str
    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = ""
        if self.file is not None:
            where = f"{self.file}: "
            if self.line is not None:
                column = f":{self.column}" if self.column is not None else ""
                where = f"{self.file}:{self.line}{column}: "
        field = f"{self.path}: " if self.path else ""
        return f"{where}{field}{self.message}"


class InvalidInputError(RouterError):
    """Input (a file, a request or an update) broke the rules; lists every problem found."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        assert problems, "InvalidInputError needs at least one problem"
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class NotFoundError(RouterError):
    """A named thing (site, reservation, pool) does not exist."""


class CapacityError(RouterError):
    """A reservation could not be committed because the capacity is no longer free."""


class QuotaExceededError(CapacityError):
    """A commit would take a tenant past its quota (the message says whose and why)."""


class ServiceUnavailableError(RouterError):
    """The router service could not be reached or is shutting down."""


class DeadlineExceededError(RouterError):
    """The call did not finish within its deadline."""


class ServerError(RouterError):
    """The service failed in a way that is not the caller's fault."""


class AuthenticationError(RouterError):
    """The server did not accept the caller's credentials (none, or unknown)."""


class PermissionDeniedError(RouterError):
    """The caller's role may not make this call."""
