"""Errors that carry a message meant for the user (the CLI prints them without a traceback)."""


class UserFacingError(Exception):
    """Base for errors whose message says what went wrong and what to do about it."""


class InsufficientDataError(UserFacingError):
    """Too few training examples survived the filters (the seed's first troubleshooting case)."""


class EmptyEvaluationSetError(UserFacingError):
    """The held-out evaluation split has no rows (or none for what was asked): nothing to evaluate a model on."""


class PromotionRefusedError(UserFacingError):
    """The gate refused a candidate (or its evaluation is missing or stale); the message says why and how to force."""
