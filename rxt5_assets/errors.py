"""Errors that carry a message meant for the user (the CLI prints them without a traceback)."""


class UserFacingError(Exception):
    """Base for errors whose message says what went wrong and what to do about it."""


class InsufficientDataError(UserFacingError):
    """Too few training examples survived the filters (the seed's first troubleshooting case)."""
