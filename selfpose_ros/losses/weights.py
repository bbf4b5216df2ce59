"""Loss weights (defaults from the reference configuration; see docs/model.md) and their schedule."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

#: Terms that the reference decays to 0.1x over training.
REGULARISER_TERMS = ("deformation", "laplacian_per_64", "symmetry", "keep_in_front")
#: Terms that the reference ramps from 0.1x to 1x over training.
MATCH_TERMS = ("match", "imatch")


@dataclass(frozen=True)
class LossWeights:
    """Weight of each loss term. Reference values where it has one; 'ours' terms are untuned starts."""

    mask: float = 0.15
    texture: float = 0.05
    depth: float = 0.1
    match: float = 0.02  #: instance cycle 2D -> 3D -> 2D
    imatch: float = 0.02  #: instance cycle 3D -> 2D vs projection (visibility-weighted)
    symmetry: float = 0.5
    laplacian_per_64: float = 0.002  #: Laplacian weight = this * N_v / 64
    keep_in_front: float = 0.01
    deformation: float = 0.4
    cross_instance: float = 0.05  #: reference beta_inst
    ego_cycle: float = 0.05  #: cross-time cycle (reference beta_time), exact pairs here (ours)
    ego_point: float = 0.02  #: ours
    ego_similarity: float = 0.005  #: ours
    pose_consistency: float = 0.05  #: ours
    traj: float = 0.1
    vicreg: float = 0.01  #: ours (VICReg is ~25x larger than the other terms at start)
    contrastive: float = 0.0  #: optional term, off by default
    keypoints: float = 0.05  #: ours
    shape_size: float = 0.0  #: per-instance proportions vs the fused cloud's box (losses/shape_size.py)
    shape_plausible: float = 0.0  #: proportions kept inside the shape library's range
    handle: float = 0.0  #: handle-visible logit vs the pseudo-label's flag (mug)

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not value >= 0:
                raise ValueError(f"loss weight {f.name} must be >= 0, got {value}")

    def laplacian(self, n_vertices: int) -> float:
        """The Laplacian weight for a mesh of ``n_vertices`` (0.002 * N_v / 64 by default)."""
        if n_vertices <= 0:
            raise ValueError(f"n_vertices must be positive, got {n_vertices}")
        return self.laplacian_per_64 * n_vertices / 64.0

    def scheduled(self, progress: float) -> LossWeights:
        """Weights at training ``progress`` in [0, 1]: regularisers 1x -> 0.1x, match terms 0.1x -> 1x (linear)."""
        if not 0.0 <= progress <= 1.0:
            raise ValueError(f"progress must be in [0, 1], got {progress}")
        decay = 1.0 - 0.9 * progress
        ramp = 0.1 + 0.9 * progress
        changes = {n: getattr(self, n) * decay for n in REGULARISER_TERMS}
        changes.update({n: getattr(self, n) * ramp for n in MATCH_TERMS})
        return replace(self, **changes)
