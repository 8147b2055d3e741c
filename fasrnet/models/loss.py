"""The loss (paper Eqs. 17–19; ``docs/model.md``, §9).

``joints_mse(pred, target, weight)``: per joint, the mean over batch × pixels of ``((pred − target) · v_j)²``,
averaged over the J joints — i.e. the mean over every element (no ½ factor, as DCPose/FaSRnet). ``v_j`` is the
target weight (visibility); a joint with weight 0 contributes nothing (it still counts in the 1/J).

``fasrnet_loss(outputs, target, weight, alpha) = alpha · L(H^r) + (1 − alpha) · L(H^final)``; for variants with
only one of the two outputs (no SRM: H^r; ``no_fr``: H^final) the loss is that output's term alone.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

# The per-output term; it lives with the heatmap codec because backbone pretraining uses it too, and a change to
# the head's loss must not rerun the backbone (fasrnet/codedeps.py).
from fasrnet.codecs.heatmap import joints_mse

__all__ = ["FaSRnetLoss", "fasrnet_loss", "joints_mse"]


def fasrnet_loss(outputs: Mapping[str, torch.Tensor | None], target: torch.Tensor, weight: torch.Tensor,
                 alpha: float = 0.4) -> torch.Tensor:
    """Eq. 19 on a head's output dict (keys ``hr`` and ``final``, either possibly None)."""
    hr, final = outputs.get("hr"), outputs.get("final")
    if hr is not None and final is not None:
        return alpha * joints_mse(hr, target, weight) + (1.0 - alpha) * joints_mse(final, target, weight)
    if hr is not None:
        return joints_mse(hr, target, weight)
    if final is not None:
        return joints_mse(final, target, weight)
    raise ValueError("outputs hold neither 'hr' nor 'final'")


class FaSRnetLoss(torch.nn.Module):
    """:func:`fasrnet_loss` with a fixed ``alpha`` (``params.loss.alpha``)."""

    def __init__(self, alpha: float = 0.4):
        super().__init__()
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        self.alpha = alpha

    def forward(self, outputs: Mapping[str, torch.Tensor | None], target: torch.Tensor,
                weight: torch.Tensor) -> torch.Tensor:
        return fasrnet_loss(outputs, target, weight, self.alpha)
