"""TensorBoard logging of training: scalars, and images of crops, correspondence maps and soft renders.

A correspondence map colours every in-mask feature cell by the canonical point it maps to
(``q_p + 0.5`` as RGB, the NOCS colouring), next to its cycle confidence; the render panel shows the soft
silhouette and the normalised rendered depth. Only rank 0 writes.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torch.nn.functional as F

from selfpose_ros.model.cse_model import CSEOutput

log = logging.getLogger(__name__)


def correspondence_panel(rgb: torch.Tensor, out: CSEOutput, count: int = 4, render=None) -> torch.Tensor:
    """One (3, H, W) image: per sample a row of [crop | canonical-coordinate map | confidence | render]."""
    n = min(count, rgb.shape[0])
    if render is not None:
        n = min(n, render.mask.shape[0])  # the step renders only its first loss_options.render_samples
    S = rgb.shape[-1]
    h, w = out.feature_mask.shape[-2:]
    rows = []
    for i in range(n):
        fm = out.feature_mask[i].detach().float()
        coords = (out.points3d[i].detach().float().reshape(h, w, 3).permute(2, 0, 1) + 0.5).clamp(0, 1) * fm
        conf = out.cycle_confidence[i].detach().float().reshape(1, h, w).expand(3, h, w)
        tiles = [rgb[i].detach().float().cpu()]
        for t in (coords, conf):
            tiles.append(F.interpolate(t.unsqueeze(0), size=(S, S), mode="nearest")[0].cpu())
        if render is not None:
            m = render.mask[i].detach().float()
            d = render.depth[i].detach().float() * (m > 0.5)
            valid = d[d > 0]
            if valid.numel():
                d = torch.where(d > 0, (d - valid.min()) / (valid.max() - valid.min() + 1e-6), d)
            tiles.append(F.interpolate(torch.stack((m, d, m * 0)).unsqueeze(0), size=(S, S), mode="nearest")[0]
                         .cpu())
        rows.append(torch.cat(tiles, dim=2))
    return torch.cat(rows, dim=1).clamp(0, 1)


class TrainLogger:
    """SummaryWriter wrapper that does nothing on ranks other than 0."""

    def __init__(self, log_dir: str | Path, enabled: bool) -> None:
        self.writer = None
        if enabled:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                log.warning("tensorboard is not installed (pip install tensorboard): no event files are written")
                return
            self.writer = SummaryWriter(str(log_dir))

    def scalars(self, step: int, values: dict[str, float], prefix: str = "") -> None:
        """Write each value as ``prefix + name``."""
        if self.writer is None:
            return
        for k, v in values.items():
            self.writer.add_scalar(prefix + k, v, step)

    def images(self, step: int, rgb: torch.Tensor, out: CSEOutput, render=None) -> None:
        """Write the correspondence/render panel."""
        if self.writer is None:
            return
        self.writer.add_image("correspondence/crop_coords_confidence_render", correspondence_panel(rgb, out, 4, render),
                              step)

    def close(self) -> None:
        """Flush and close."""
        if self.writer is not None:
            self.writer.close()
