"""The one hierarchy of user-facing errors.

Anything derived from `Hw2Error` is a problem with the user's input (a file, a folder, a params
value, a checkpoint, the environment): the command line prints it as one line and exits with its
`exit_code` (2; 75 for a preempted run). Every other exception is a bug of ours and keeps its
traceback.
"""


class Hw2Error(Exception):
    """A problem the user can fix; the message names the file or key and the problem."""
    exit_code = 2


class DataError(Hw2Error):
    """Bad input data: the message names the file and the problem."""


class MaskDecodeError(DataError):
    """A mask holds a colour that its class spec cannot decode."""


class ConfigError(Hw2Error, ValueError):
    """A params value that is unknown, of the wrong type or inapplicable: names the key and value."""


class CheckpointError(Hw2Error):
    """A checkpoint that cannot or must not be loaded, or a resume that cannot continue."""


class WeightsUnavailable(Hw2Error):
    """Pretrained weights were asked for but cannot be loaded (offline, missing file)."""


class TrainingDiverged(Hw2Error):
    """The loss stayed NaN or infinite."""


class ReportError(Hw2Error):
    """A notebook failed; the message names it, the cell, and where the executed copy is."""


class Preempted(Hw2Error):
    """Training stopped on SIGTERM or SIGINT after saving its state: resume continues it."""
    exit_code = 75  # EX_TEMPFAIL: try again later


class RunNotTrained(Hw2Error):
    """A batch build met a run that would still need training (`hw2 runs` trains it)."""
