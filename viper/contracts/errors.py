"""Domain errors shared by the engine, the storage and the bot.

They carry a machine-readable `code` and, where an input is at fault, the `argument` it names.
Adapters turn them into friendly messages; the worker sends them back to the bot as plain dicts
(see `to_dict` / `from_dict`), never as pickled exceptions.
"""

from __future__ import annotations


class ViperError(Exception):
    """Base class of errors that a member or operator can understand and act on."""

    code = "error"

    def __init__(self, message: str, *, argument: str | None = None):
        super().__init__(message)
        self.message = message
        self.argument = argument

    def to_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "argument": self.argument}

    @staticmethod
    def from_dict(data: dict) -> "ViperError":
        cls = _BY_CODE.get(data.get("code", ""), ViperError)
        err = cls(data.get("message", "unknown error"), argument=data.get("argument"))
        return err


class InvalidArgument(ViperError):
    """A request argument is out of range or malformed; `argument` names it."""

    code = "invalid_argument"


class NotYours(InvalidArgument):
    """A member pressed a button or named a job that belongs to another member."""

    code = "not_yours"


class TokenRefused(ViperError):
    """A chat platform refused the bot's token; `argument` names the environment variable."""

    code = "token_refused"


class ModelUnavailable(ViperError):
    """A model could not be loaded (missing weights, no network, wrong path)."""

    code = "model_unavailable"


class QueueUnavailable(ViperError):
    """Redis or the worker cannot be reached."""

    code = "queue_unavailable"


class JobFailed(ViperError):
    """The worker ran the job but it failed for an unexpected reason."""

    code = "job_failed"


class JobCancelled(ViperError):
    code = "job_cancelled"


class JobTimeout(ViperError):
    code = "job_timeout"


_BY_CODE = {
    c.code: c
    for c in (ViperError, InvalidArgument, NotYours, TokenRefused, ModelUnavailable, QueueUnavailable, JobFailed, JobCancelled, JobTimeout)
}
