"""The package's exceptions.

Every error that sleep-brian raises on purpose derives from :class:`SleepBrianError`, so a
script can catch them all at once. Messages name the offending value, what was expected, and
what to do about it.
"""


class SleepBrianError(Exception):
    """Base class of all errors raised by sleep-brian."""


class ConfigError(SleepBrianError, ValueError):
    """A parameter has the wrong value, type or unit."""


class DataError(SleepBrianError, ValueError):
    """A dataset could not be found, read or used."""


class DeviceError(SleepBrianError, RuntimeError):
    """A Brian2 code-generation target is unknown, not installed or cannot run this."""


class ModelError(ConfigError):
    """A model declaration is inconsistent: an unknown population, a name clash, a unit mismatch..."""


class SimulationError(SleepBrianError, RuntimeError):
    """A run's state went NaN or ran away: its results are not valid and are not stored as such."""
