"""Turn images into what the input layer needs: per-pixel spike probabilities in [0, 1].

The network's input group draws a Bernoulli spike per pixel and time step (see
:data:`~sleep_brian.equations.neurons.INPUT_STIMULUS_UPDATE`); this module only prepares the
intensities, so that the same images can be shown on every device.
"""

from __future__ import annotations

import numpy as np

from sleep_brian.errors import ConfigError
from sleep_brian.params import InputParams

__all__ = ["normalize_total", "encode_images"]


def normalize_total(x: np.ndarray, total: float) -> np.ndarray:
    """Rescale each image (row) so its pixels sum to ``total``, then clip to [0, 1].

    An all-black image stays black. Clipping can leave a very sparse image with a smaller sum
    (a pixel cannot fire more than once per step).
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 2:
        raise ConfigError(f"images must be a 2-D array (n_images, n_pixels); got shape {x.shape}.")
    sums = x.sum(axis=1, keepdims=True)
    scale = np.divide(total, sums, out=np.zeros_like(sums), where=sums > 0)
    return np.clip(x * scale, 0.0, 1.0)


def encode_images(x: np.ndarray, params: InputParams) -> np.ndarray:
    """Spike probabilities per ``params.prob_dt_ref`` for each pixel, shape (n_images, side**2)."""
    x = np.asarray(x, dtype=float)
    if x.ndim != 2 or x.shape[1] != params.side**2:
        raise ConfigError(
            f"images have shape {x.shape}; the input layer wants (n_images, {params.side ** 2}) "
            f"({params.side}x{params.side} pixels). Load the dataset with side={params.side}."
        )
    if not np.isfinite(x).all() or x.min(initial=0) < 0 or x.max(initial=0) > 1:
        raise ConfigError("image intensities must be finite and lie in [0, 1].")
    if params.total_intensity is not None:
        x = normalize_total(x, params.total_intensity)
    return x
