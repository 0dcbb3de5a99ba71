"""The errors rnnlm expects to meet: each carries a one-line message for the user.

The CLI catches RnnlmError once, prints ``rnnlm: error: <message>`` on stderr and exits
with ``exit_code``: 2 for a bad option value or combination, 1 for bad files, data,
checkpoints or resources.
"""


class RnnlmError(Exception):
    """An expected failure with a message fit for one line on stderr."""

    exit_code = 1


class UsageError(RnnlmError):
    """A bad option value or a contradictory combination of options."""

    exit_code = 2


class DataError(RnnlmError):
    """A corpus that cannot be read or used: missing, empty, binary, badly encoded, too short."""


class CheckpointError(RnnlmError):
    """A checkpoint that is missing, damaged, foreign or does not match its config."""
