"""Multi-view pose consistency with known camera motion: T_B_obj must equal T_BA T_A_obj.

Poses are canonical -> camera with the scale fixed to 1, so predicted translations are in canonical
units while T_BA is metric: t_B = R_BA t_A + t_BA / s with s the object's metres per canonical unit
(e.g. reconstruction.mean_depth_ratio, detached). Rotation terms are smooth (zero gradient, not NaN,
at the optimum): chordal |R_B - R_BA R_A|_F^2 / 8 = sin^2(theta / 2); for a category with continuous
symmetry about +Y only the y axes are compared: (1 - y_B . y_pred) / 2. Mirror symmetries are not
rotations, so they leave the pose unique and use the full term.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from selfpose_ros.conventions import SYMMETRY
from selfpose_ros.losses._checks import check_shape

_KINDS = frozenset(SYMMETRY.values()) | {"none"}


def rotation_discrepancy(R_pred: torch.Tensor, R_obs: torch.Tensor, continuous_y: torch.Tensor) -> torch.Tensor:
    """Per-sample smooth rotation error in [0, 1]: sin^2(theta/2), or (1 - cos(y-axis angle))/2 where flagged."""
    full = ((R_pred - R_obs) ** 2).sum(dim=(-1, -2)) / 8.0
    y_only = (1.0 - (R_pred[..., :, 1] * R_obs[..., :, 1]).sum(-1)) / 2.0
    return torch.where(continuous_y, y_only, full)


def pose_consistency_loss(
    R_a: torch.Tensor,
    t_a: torch.Tensor,
    R_b: torch.Tensor,
    t_b: torch.Tensor,
    T_ba: torch.Tensor,
    scale: torch.Tensor,
    symmetry: Sequence[str] | str,
    translation_weight: float = 1.0,
) -> torch.Tensor:
    """Mean rotation discrepancy + translation_weight * mean |t_B - (R_BA t_A + t_BA / s)|^2 (canonical units).

    R_a, R_b (B,3,3); t_a, t_b (B,3); T_ba (B,4,4) metric camera motion A -> B; scale (B,) metres per
    canonical unit (positive); symmetry: one SymmetryKind for all samples or one per sample.
    """
    B = R_a.shape[0]
    for name, x, shape in (
        ("R_a", R_a, (B, 3, 3)),
        ("R_b", R_b, (B, 3, 3)),
        ("t_a", t_a, (B, 3)),
        ("t_b", t_b, (B, 3)),
        ("T_ba", T_ba, (B, 4, 4)),
        ("scale", scale, (B,)),
    ):
        check_shape(name, x, shape)
    if (scale <= 0).any():
        raise ValueError("scale must be positive")
    kinds = [symmetry] * B if isinstance(symmetry, str) else list(symmetry)
    if len(kinds) != B or any(k not in _KINDS for k in kinds):
        raise ValueError(f"symmetry must be one of {sorted(_KINDS)} (one or {B} of them), got {symmetry!r}")
    R_ba, t_ba = T_ba[:, :3, :3].to(R_a), T_ba[:, :3, 3].to(R_a)
    R_pred = R_ba @ R_a
    t_pred = torch.einsum("bij,bj->bi", R_ba, t_a) + t_ba / scale.to(R_a).unsqueeze(-1)
    cont = torch.tensor([k == "continuous_y" for k in kinds], device=R_a.device)
    rot = rotation_discrepancy(R_pred, R_b, cont)
    trans = ((t_b - t_pred) ** 2).sum(-1)
    return rot.mean() + translation_weight * trans.mean()
