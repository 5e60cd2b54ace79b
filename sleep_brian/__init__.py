"""sleep-brian: STDP spiking networks stabilised by sleep-like homeostatic phases, on Brian2."""

from sleep_brian.errors import ConfigError, DataError, DeviceError, SleepBrianError

__version__ = "0.3.0"

__all__ = ["ConfigError", "DataError", "DeviceError", "SleepBrianError", "__version__"]
