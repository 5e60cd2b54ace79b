"""The built-in models, declared with :mod:`sleep_brian.model`, and how to name one.

======================  ==========================================================================
name                    model
======================  ==========================================================================
paper-stochastic        the corrected paper network with the stochastic sleep rule (the default)
paper                   the corrected paper network with the paper's power-law sleep
paper-shy               the corrected paper network with SHY down-selection sleep (models/shy.py)
authors                 the paper network as the authors' code runs it (anti-causal STDP, ...)
authors-nocap           the same without the 10 s sleep cap
authors-stochastic      the authors' network with the stochastic sleep rule
diehl-cook              Diehl & Cook 2015: 100 E + 100 I conductance LIF, trace STDP, normalised
======================  ==========================================================================

:func:`get_model` takes these names and, for a user's own model, ``path/to/file.py:function``
(a function that returns a :class:`~sleep_brian.model.Model`).
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
from pathlib import Path

from sleep_brian.models import diehl_cook, paper, shy
from sleep_brian.models.paper import PaperParams, authors_params, authors_schedule
from sleep_brian.errors import ConfigError
from sleep_brian.model import Model

__all__ = ["MODELS", "DEFAULT_MODEL", "get_model", "load_model_file", "describe", "paper", "PaperParams",
           "authors_params", "authors_schedule"]  # fmt: skip

#: The model that ``sleep-brian run`` uses when none is named (measured: the paper's power law
#: silences the network over training and reads out at chance; the stochastic rule learns).
DEFAULT_MODEL = "paper-stochastic"

#: Built-in models: name -> function returning the Model (keyword options: sleep_rule, stdp).
MODELS = {
    "paper-stochastic": paper.paper_stochastic,
    "paper": paper.paper,
    "paper-shy": shy.paper_shy,
    "authors": paper.authors,
    "authors-nocap": lambda **kw: paper.authors(cap=False, name="authors-nocap", **kw),
    "authors-stochastic": lambda **kw: paper.authors(name="authors-stochastic", **{"sleep_rule": "stochastic", **kw}),
    "diehl-cook": diehl_cook.diehl_cook,
}


def load_model_file(spec: str, **options) -> Model:
    """The model returned by ``function`` in ``path/to/file.py`` (spec ``path/to/file.py:function``)."""
    path, sep, func = spec.rpartition(":")
    if not sep or not path.endswith(".py") or not func.isidentifier():
        raise ConfigError(f"model {spec!r}: a model file is named as path/to/file.py:function, e.g. my_model.py:build.")
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"model {spec!r}: no file {file}.")
    name = f"sleep_brian_user_model_{abs(hash(str(file.resolve())))}"
    module_spec = importlib.util.spec_from_file_location(name, file)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module  # dataclasses and pickling look modules up by name
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:
        raise ConfigError(f"model {spec!r}: importing {file} failed: {type(exc).__name__}: {exc}") from exc
    factory = getattr(module, func, None)
    if not callable(factory):
        known = [n for n, v in vars(module).items() if callable(v) and not n.startswith("_") and getattr(v, "__module__", "") == name]
        raise ConfigError(f"model {spec!r}: {file} has no function {func!r}; it has {', '.join(known) or 'none'}.")
    return _call(factory, spec, options)


def _call(factory, name: str, options: dict) -> Model:
    accepted = inspect.signature(factory).parameters
    takes_any = any(p.kind is p.VAR_KEYWORD for p in accepted.values())
    unknown = [k for k in options if k not in accepted and not takes_any]
    if unknown:
        raise ConfigError(f"model {name!r} takes no option {', '.join(unknown)}; it takes {', '.join(accepted) or 'none'}.")
    model = factory(**options)
    if not isinstance(model, Model):
        raise ConfigError(f"model {name!r}: its function returned a {type(model).__name__}, not a sleep_brian.model.Model.")
    return model


def get_model(name: str | Model = DEFAULT_MODEL, **options) -> Model:
    """A model by name: a built-in one (:data:`MODELS`) or ``path/to/file.py:function``.

    ``options`` (e.g. ``sleep_rule='power'``, ``stdp='authors'``) go to the model's function;
    options left at None are dropped.
    """
    options = {k: v for k, v in options.items() if v is not None}
    if isinstance(name, Model):
        if options:
            raise ConfigError(f"options {sorted(options)} apply to a model named by string, not to a declared Model.")
        return name
    if not isinstance(name, str):
        raise ConfigError(f"model = {name!r} must be a Model or a name such as {DEFAULT_MODEL!r}.")
    if ":" in name and ".py" in name:
        return load_model_file(name, **options)
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}, or name a file as path/to/file.py:function.")
    return _call(MODELS[name], name, options)


def describe() -> list[tuple[str, str]]:
    """(name, one line) of every built-in model (``sleep-brian models``)."""
    return [(name, get_model(name).description) for name in MODELS]
