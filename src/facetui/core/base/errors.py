"""The one family of errors meant for the user to read (FacetuiError and its kinds) and the exit status of each.

Every error whose message says what to fix subclasses FacetuiError; the CLI and the app catch the base by type,
print or show the message, and the CLI exits with :func:`exit_code`. Anything else is a bug: the CLI lets it
raise, the app shows it in a crash dialog and keeps running.
"""

from __future__ import annotations

EXIT_OK, EXIT_FAILED, EXIT_SETUP, EXIT_ABORTED = 0, 1, 2, 130


class FacetuiError(Exception):
    """An error with a one-line message meant for the user; ``exit_code`` is the CLI's exit status for it."""

    exit_code = EXIT_SETUP


class SetupError(FacetuiError, RuntimeError):
    """A run cannot start (missing folder, no KB, output inside input...); the message says what to do."""


def exit_code(err: BaseException) -> int:
    """The CLI's exit status for an error: 2 for a FacetuiError (cannot start), 130 for an interrupt, else 1."""
    if isinstance(err, FacetuiError):
        return err.exit_code
    if isinstance(err, KeyboardInterrupt):
        return EXIT_ABORTED
    return EXIT_FAILED
