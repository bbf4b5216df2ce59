"""Settings of the loss terms other than the self-supervised weights: render size, schedules, label weights."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class LossOptions:
    """Settings of the loss terms other than their weights."""

    schedule: bool = True  #: reference schedule (regularisers decay, match terms ramp)
    render_size: int = 32  #: soft-render resolution (square); 0 disables all rendering terms
    render_samples: int = 0  #: render only the first N crops of a batch (0: all); rendering dominates CPU time
    teacher_momentum: float = 0.99
    cross_instance_k: int = 50
    keypoint_sigma: float = 0.05  #: proxy heatmap sigma as a fraction of the crop
    contrastive_near: float = 2.0
    contrastive_far: float = 8.0
    coords_symmetry_steps: int = 24  #: yaw hypotheses for continuous-symmetry categories in label_coords
    hidden_handle_symmetric: bool = False  #: mug crops without a visible handle: label terms ignore yaw (NOCS)


@dataclass
class LabelWeights:
    """Weights of the pose-label terms (pseudo-labels in self-supervised mode, ground truth if supervised)."""

    label_coords: float = 1.0
    label_vertex: float = 0.0  #: cross-entropy of the 2D->3D match against the label's nearest vertex
    label_rotation: float = 0.2
    label_translation: float = 0.1
