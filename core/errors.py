"""Exceptions that carry a message a user can act on.

Every error MaskLoop raises for a user's mistake or a broken input derives from
`MaskLoopError`; the CLI prints its message on one line and exits non-zero, the GUI
shows it in a dialog. Anything else escaping is a bug.
"""


class MaskLoopError(Exception):
    """Base class: the message is written for the user, not for a developer."""


class ProjectError(MaskLoopError):
    """The project file cannot be created, opened, migrated or written."""


class CocoFormatError(MaskLoopError):
    """A file is not JSON, or not shaped like a COCO dataset or results list."""


class ImageReadError(MaskLoopError):
    """An image file is missing, unreadable or not an image."""


class WeightsUnavailableError(MaskLoopError):
    """Pretrained weights are not in the cache and cannot be downloaded."""


class CheckpointError(MaskLoopError):
    """A checkpoint file is missing, corrupt, tampered with or incompatible."""


class TrainingError(MaskLoopError):
    """Training cannot start or continue (empty dataset, out of memory, ...)."""


class Cancelled(MaskLoopError):
    """Long work was stopped on request; what was finished is kept."""


class ModelFileMissing(MaskLoopError):
    """A model file the project recorded (its active model, a run's checkpoint) is not there."""
