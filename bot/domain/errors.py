"""Domain errors. One error handler turns each into a translated message for the user."""


class DomainError(Exception):
    """Base class: an expected refusal that the user should be told about."""


class NotAllowed(DomainError):
    """The actor may not do this (role, department or state does not permit it)."""


class OrderChanged(DomainError):
    """The order changed since the user saw it (stale button or a concurrent action won)."""


class NotFound(DomainError):
    """The object does not exist, or the actor may not see it (we do not tell which)."""


class BadDeadline(DomainError):
    """A deadline that cannot be parsed or lies in the past."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # "unparseable" | "past"


class BadInput(DomainError):
    """Input that fails validation; `code` names the rule, `params` fill the message."""

    def __init__(self, code: str, **params: object) -> None:
        super().__init__(code)
        self.code = code
        self.params = params
