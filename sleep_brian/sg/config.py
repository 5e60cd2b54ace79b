"""One SG-SNN run's configuration (no torch needed): what the CLI, the sweep and records hold."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from sleep_brian import store
from sleep_brian.errors import ConfigError
from sleep_brian.params import from_dict, to_dict
from sleep_brian.sg.params import STRENGTHS, SGParams, SGSleepParams, matched_sleep, paper_sleep, sleep_interval

__all__ = ["SG_MODEL", "SG_VARIANTS", "SGConfig", "require_torch", "torch_device", "DEFAULT_N_TRAIN"]

#: Training images of an SG-SNN run by default: the STDP-SNN paper protocol's 6,000.
DEFAULT_N_TRAIN = 6000

#: The ``model`` name of SG-SNN runs (``sleep-brian run --model sg-snn``).
SG_MODEL = "sg-snn"

#: Sweep variants of the SG-SNN: name -> (sleep strength, decay rule). ``sg-snn`` is the
#: paper's SG sleep; ``sg-snn-matched`` the STDP-SNN's stochastic sleep (``paper-stochastic``,
#: the one that helps it) at equal strength; ``sg-snn-matched-power`` its power law.
SG_VARIANTS = {
    "sg-snn": ("paper", "power"),
    "sg-snn-matched": ("matched", "stochastic"),
    "sg-snn-matched-power": ("matched", "power"),
}

TORCH_DEVICES = ("auto", "cpu", "cuda")


def require_torch():
    """Import torch, or say how to install it."""
    try:
        import torch
    except ImportError as exc:
        raise ConfigError(
            "the SG-SNN needs PyTorch, which is not installed: pip install 'sleep-brian[sg]' (or pip install torch)."
        ) from exc
    return torch


def torch_device(name: str) -> str:
    """``'auto'`` -> ``'cuda'`` when a GPU is visible to torch, else ``'cpu'``; others checked."""
    torch = require_torch()
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: torch sees no CUDA GPU here; use --device cpu (or auto).")
    return name


@dataclass(frozen=True)
class SGConfig:
    """One SG-SNN run: data, network, sleep, seed.

    ``strength='paper'`` uses the paper's SG sleep (:func:`paper_sleep` with ``sleep_rule``);
    ``'matched'`` the STDP-SNN's sleep at fraction ``sleep_fraction`` translated to the SG-SNN
    (:func:`matched_sleep`, from the ``paper`` model with ``sleep_rule``). Pass ``sleep`` to
    set every sleep parameter yourself. Sleep runs after every ``floor(1 / sleep_fraction)``
    minibatches (never after the last one, never during a test).

    ``n_train`` None: :data:`DEFAULT_N_TRAIN` images (the STDP-SNN protocol's 6,000), or the
    whole training set where it is smaller (digits: 1,347); ``"all"``: the whole training set
    (Fashion-MNIST: 60,000). ``n_test`` None: the whole test set.
    ``device`` is a torch device: ``auto`` (a GPU when torch sees one), ``cpu`` or ``cuda``.
    """

    dataset: str = "digits"
    data_dir: str | None = None
    variant: str = ""
    strength: str = "paper"
    sleep_rule: str = "power"
    sleep_fraction: float = 0.0
    seed: int = 1
    n_train: int | str | None = None
    n_test: int | None = None
    network: SGParams = dataclasses.field(default_factory=SGParams)
    sleep: SGSleepParams | None = None
    device: str = "cpu"
    model: str = SG_MODEL

    def __post_init__(self):
        if self.model != SG_MODEL:
            raise ConfigError(f"SGConfig.model must be {SG_MODEL!r}, not {self.model!r}.")
        if not isinstance(self.dataset, str):
            raise ConfigError(f"dataset = {self.dataset!r} must be a name such as 'digits'.")
        if self.data_dir is not None:
            object.__setattr__(self, "data_dir", str(self.data_dir))
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise ConfigError(f"seed = {self.seed!r} must be an integer >= 0.")
        sleep_interval(self.sleep_fraction)  # checks the fraction
        if self.strength not in STRENGTHS:
            raise ConfigError(f"strength = {self.strength!r}; expected one of {', '.join(STRENGTHS)}.")
        if self.sleep_rule not in ("power", "stochastic"):
            raise ConfigError(f"sleep_rule = {self.sleep_rule!r}; expected 'power' or 'stochastic'.")
        if self.device not in TORCH_DEVICES:
            raise ConfigError(
                f"device = {self.device!r}: the SG-SNN runs on PyTorch, so its device is one of "
                f"{', '.join(TORCH_DEVICES)} (Brian2 targets are for the STDP-SNN)."
            )
        for n in ("n_train", "n_test"):
            v = getattr(self, n)
            if n == "n_train" and v == "all":
                continue
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0):
                raise ConfigError(f"{n} = {v!r} must be a positive integer, None (the default size) or, for n_train, 'all'.")
        if isinstance(self.network, dict):
            object.__setattr__(self, "network", from_dict(SGParams, self.network))
        if isinstance(self.sleep, dict):
            object.__setattr__(self, "sleep", from_dict(SGSleepParams, self.sleep))
        if not isinstance(self.network, SGParams):
            raise ConfigError("network must be an SGParams.")
        if self.sleep is None:
            object.__setattr__(self, "sleep", self._default_sleep())
        if not isinstance(self.sleep, SGSleepParams):
            raise ConfigError("sleep must be an SGSleepParams.")
        if not self.variant:
            object.__setattr__(self, "variant", SG_MODEL if self.strength == "paper" else f"{SG_MODEL}-{self.strength}")

    def _default_sleep(self) -> SGSleepParams:
        if self.strength == "paper":
            return paper_sleep(self.sleep_rule)
        from sleep_brian.models.paper import PaperParams
        from sleep_brian.params import ScheduleParams

        params = PaperParams()
        params = params.replace(sleep=params.sleep.replace(rule=self.sleep_rule))
        return matched_sleep(params, ScheduleParams(), self.sleep_fraction, self.network)

    @classmethod
    def for_variant(cls, variant: str, **kwargs) -> "SGConfig":
        """The configuration of a sweep variant (:data:`SG_VARIANTS`)."""
        if variant not in SG_VARIANTS:
            raise ConfigError(f"unknown SG variant {variant!r}; choose one of {', '.join(SG_VARIANTS)}.")
        strength, rule = SG_VARIANTS[variant]
        return cls(variant=variant, strength=strength, sleep_rule=rule, **kwargs)

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["network"] = to_dict(self.network)
        d["sleep"] = to_dict(self.sleep)
        d["seed"] = int(self.seed)
        # the fields every record has (store.flatten, plotting, statistics read these)
        d["schedule"] = {"sleep_fraction": self.sleep_fraction, "n_train": self.n_train, "n_test": self.n_test,
                         "epochs": self.network.epochs, "sleep_every_batches": sleep_interval(self.sleep_fraction)}
        d["params"] = {"sleep": {"rule": self.sleep.decay.rule}}
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "SGConfig":
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in fields})

    def name(self) -> str:
        """Record folder name: readable prefix and a hash of the whole configuration."""
        return (
            f"{self.dataset}_{self.variant}_sleep{self.sleep_fraction:g}_seed{self.seed}_torch-{self.device}_"
            f"{store.config_key(self.to_dict())}"
        )
