"""User-facing errors.

Anything a user can cause (a bad file, an unknown name, a bad config value) raises a
subclass of `RllrError` whose message is one line naming the file, line or field. The CLI
prints that line and exits non-zero instead of showing a traceback.
"""


class RllrError(Exception):
    """An error caused by input the user controls; the message is shown as is."""


class ConfigError(RllrError):
    """Unknown config key, bad value or malformed YAML."""


class DataError(RllrError):
    """Missing or malformed data file, bad label, empty text."""


class ModelError(RllrError):
    """Unknown model name, missing or corrupt model files."""


class TeacherError(RllrError):
    """Unreachable or misbehaving teacher endpoint."""
