"""Optional relative-viewpoint contrastive term (ELEC 874 project): near frames positive, far negative."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from selfpose_ros.losses._checks import check_positive, check_shape


def relative_viewpoint_infonce(
    embeddings: torch.Tensor,
    positions: torch.Tensor,
    near: float,
    far: float,
    temperature: float = 0.1,
) -> torch.Tensor:
    """InfoNCE over trajectories: embeddings (B,T,D), positions (B,T) along each trajectory (index, arc, angle).

    For anchor i: positives j != i with |pos_i - pos_j| <= near, negatives with |pos_i - pos_j| >= far
    (in between: ignored); L_i = -log(sum_pos e^{s/T} / sum_{pos+neg} e^{s/T}), s = cosine similarity.
    Mean over anchors that have both; ValueError if none has.
    """
    check_shape("embeddings", embeddings, (None, None, None))
    B, T, _ = embeddings.shape
    check_shape("positions", positions, (B, T))
    check_positive("temperature", temperature)
    if not 0 <= near < far:
        raise ValueError(f"need 0 <= near < far, got near={near}, far={far}")
    z = F.normalize(embeddings, dim=-1)
    logits = torch.bmm(z, z.transpose(1, 2)) / temperature  # (B,T,T)
    gap = (positions.unsqueeze(2) - positions.unsqueeze(1)).abs()
    eye = torch.eye(T, dtype=torch.bool, device=embeddings.device)
    pos = (gap <= near) & ~eye
    neg = gap >= far
    anchors = pos.any(-1) & neg.any(-1)
    if not anchors.any():
        raise ValueError("no anchor has both a positive and a negative frame; widen near/far or the trajectory")
    low = torch.finfo(logits.dtype).min
    log_pos = torch.logsumexp(logits.masked_fill(~pos, low), dim=-1)
    log_all = torch.logsumexp(logits.masked_fill(~(pos | neg), low), dim=-1)
    return (log_all - log_pos)[anchors].mean()
