"""Model definitions: named presets of :class:`sleep_brian.params.ModelParams` and schedules.

``paper``   the corrected model of Massey et al. (2026): causal STDP, no sleep cap.
``authors`` the model as the authors' code runs it, each quirk a documented switch.

Sweep variants (:data:`VARIANTS`) combine a preset with a sleep rule and the sleep cap.
"""

from models import paper
from models.paper import (
    MODELS,
    VARIANTS,
    authors_model,
    authors_schedule,
    get_model,
    get_schedule,
    get_variant,
    paper_model,
)

__all__ = paper.__all__
