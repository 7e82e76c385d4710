"""Provides the error classes of plntui: one base with a title, one subclass per area.

Every message is written for the person at the terminal: what went wrong and what to do next.
"""

from __future__ import annotations


class PlntuiError(Exception):
    """Base class: something the user can act on. ``exit_code`` is what the CLI exits with."""

    title = "plntui error"
    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ValidationError(PlntuiError):
    """A value given by the user (argument, form field, imported record) is not acceptable."""

    title = "Invalid input"
    exit_code = 2

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotFoundError(PlntuiError):
    """No contact, note or interaction has that id (or the prefix matches nothing)."""

    title = "Not found"
    exit_code = 2


class AmbiguousIdError(NotFoundError):
    """An id prefix matches more than one item: type more characters."""

    title = "Ambiguous id"


class ProfileError(PlntuiError):
    """The profile folder is missing, unusable, or was made by a newer plntui."""

    title = "Profile problem"
    exit_code = 2


class ProfileMissingError(ProfileError):
    """The profile does not exist yet: create it with ``plntui init --name NAME``."""

    title = "No profile"


class ProfileLockedError(ProfileError):
    """Another plntui process holds this profile."""

    title = "Profile in use"


class StoreCorruptError(PlntuiError):
    """A stored file is damaged. It is never replaced silently; ``plntui repair`` moves it aside."""

    title = "Damaged profile file"
    exit_code = 3


class ImportFormatError(ValidationError):
    """An imported file cannot be read as vCard or CSV."""

    title = "Cannot import file"
