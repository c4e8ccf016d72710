"""The one error type users see: a single line naming the file or option and what to do."""


class AugdiffError(Exception):
    """A mistake in the user's input or environment; the CLI prints it as one red line and exits 2."""

    exit_code = 2
