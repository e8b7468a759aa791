"""SemanticDraw engine: host-agnostic (torch only). See ALGORITHM.md for the method."""
from .errors import SemanticDrawInputError
from .masks import MASK_TYPES, ProcessedMasks, process_masks, quantize
from .regional import (Denoiser, NoiseSpace, RegionalPlan, eps_space, flow_space, make_plan, noise_levels,
                       regional_x0)
from .views import get_views, view_weights

__all__ = ["SemanticDrawInputError", "MASK_TYPES", "ProcessedMasks", "process_masks", "quantize", "Denoiser",
           "NoiseSpace", "RegionalPlan", "eps_space", "flow_space", "make_plan", "noise_levels", "regional_x0",
           "get_views", "view_weights"]
