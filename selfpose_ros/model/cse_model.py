"""The assembled Categorical Surface Embedding model (encoder, heads, mesh encoder, correspondence)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from selfpose_ros.conventions import SYMMETRY
from selfpose_ros.model.camera import check_intrinsics, downsample_mask, pixel_grid
from selfpose_ros.model.correspondence import correspond
from selfpose_ros.model.depth_input import build_input, input_channels
from selfpose_ros.model.encoder import ResNetEncoder
from selfpose_ros.model.keypoint_head import KeypointHead, farthest_point_sampling, soft_argmax
from selfpose_ros.model.pixel_decoder import PixelDecoder
from selfpose_ros.model.pointnet import PointNetEmbedder
from selfpose_ros.model.pose_head import PoseHead
from selfpose_ros.model.shape import ShapeHead

#: Stride of the per-pixel embedding map relative to the crop.
FEATURE_STRIDE = 4
#: Size (metres) dividing the normalised depth input of a category no typical size was given for.
DEFAULT_DEPTH_SCALE = 0.2
#: Range the learnt temperature is kept in.
TAU_RANGE = (0.01, 1.0)


@dataclass
class CSEConfig:
    """Sizes of the CSE model. Defaults follow the reference (ResNet-18 width 64, 64-d CSE, tau 0.1)."""

    image_size: int = 256  #: square crop side (128 or 256 in practice; must be divisible by 32)
    width: int = 64  #: first-stage channels of the encoder (64 = ResNet-18)
    embed_dim: int = 64  #: CSE embedding dimension
    tau: float = 0.1  #: softmax temperature of the cosine similarities
    code_dim: int = 64  #: shape-code dimension
    shape_hidden: int = 128
    pose_hidden: int = 128
    pointnet_hidden: int = 64
    num_keypoints: int = 16
    projector_dims: tuple[int, ...] = (2048, 2048, 2048)  #: global-embedding projector (VICReg/traj)
    norm: str = "batch"
    z0: float = 1.0  #: t_z offset of the pose head, see pose_head.py
    input: str = "rgb"  #: rgb | rgbd | rgbdn (model/depth_input.py)
    depth_clip: float = 3.0  #: normalised depth is clipped to +-this many category sizes
    shape_axes: bool = False  #: per-instance proportions (per-axis log scales) from the shape code
    handle_head: bool = False  #: a logit saying whether the mug's handle is visible in the crop
    vertex_table: bool = False  #: a learnt per-vertex embedding per category added to the PointNet's
    learn_tau: bool = False  #: the softmax temperature is learnt (starting at ``tau``, kept in [0.01, 1])

    def __post_init__(self) -> None:
        input_channels(self.input)
        if self.depth_clip <= 0:
            raise ValueError(f"depth_clip must be positive, got {self.depth_clip}")
        if self.image_size % 32 or self.image_size <= 0:
            raise ValueError(f"image_size must be a positive multiple of 32, got {self.image_size}")
        if self.tau <= 0:
            raise ValueError(f"tau must be positive, got {self.tau}")
        if not self.projector_dims:
            raise ValueError("projector_dims must not be empty")


@dataclass
class CSEOutput:
    """Everything the losses and the inference need from one forward pass (P = h*w cells, N = max vertices)."""

    categories: list[str]
    rotation: torch.Tensor  #: (B,3,3) canonical -> camera
    translation: torch.Tensor  #: (B,3) canonical units (scale fixed to 1)
    rotation_6d: torch.Tensor  #: (B,6) raw head output
    vertices: torch.Tensor  #: (B,N,3) deformed canonical vertices, zero-padded
    offsets: torch.Tensor  #: (B,N,3) predicted deformation, zero-padded
    vertex_valid: torch.Tensor  #: (B,N) bool, False on padding
    faces: torch.Tensor  #: (B,F,3) long, padded with 0
    face_valid: torch.Tensor  #: (B,F) bool
    vertex_embeddings: torch.Tensor  #: (B,N,D) unit vectors
    pixel_embeddings: torch.Tensor  #: (B,D,h,w) unit vectors
    feature_mask: torch.Tensor  #: (B,h,w) object mask at feature resolution
    pixel_xy: torch.Tensor  #: (P,2) crop-pixel centres of the feature cells
    match_2d3d: torch.Tensor  #: (B,P,N) softmax over vertices
    match_3d2d: torch.Tensor  #: (B,P,N) softmax over pixels
    points3d: torch.Tensor  #: (B,P,3) expected canonical point per pixel
    vertex_pixels: torch.Tensor  #: (B,N,2) expected crop pixel per vertex
    cycle_confidence: torch.Tensor  #: (B,P)
    keypoint_logits: torch.Tensor  #: (B,K,h,w)
    keypoint_pixels: torch.Tensor  #: (B,K,2) soft-argmax crop pixels
    keypoint_indices: torch.Tensor  #: (B,K) vertex index of each keypoint
    global_feature: torch.Tensor  #: (B,C) mean of the last encoder stage
    global_embedding: torch.Tensor  #: (B,E) projector output
    axis_log_scale: torch.Tensor  #: (B,3) per-axis log scales of the shape (zeros without shape_axes)
    normalised_extents: torch.Tensor  #: (B,3) unit-diagonal box extents implied by the axis scales
    handle_logit: torch.Tensor  #: (B,) handle-visible logit (zeros without handle_head)


def _as_tensor(x, dtype) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x), dtype=dtype)


class CSEModel(nn.Module):
    """One model for several categories: shared encoder/decoder/PointNet, per-category prior, pose, shape."""

    def __init__(self, config: CSEConfig, priors: Mapping[str, tuple],
                 depth_scales: Mapping[str, float] | None = None) -> None:
        super().__init__()
        if not priors:
            raise ValueError("at least one category prior (vertices, faces) is required")
        self.config = config
        self.categories = list(priors.keys())
        scales = [float((depth_scales or {}).get(c, DEFAULT_DEPTH_SCALE)) for c in self.categories]
        if not all(s > 0 for s in scales):
            raise ValueError(f"depth scales must be positive metres, got {scales}")
        #: typical size (metres) of each category, dividing the normalised depth input (saved with the weights)
        self.register_buffer("depth_scale", torch.tensor(scales, dtype=torch.float32))
        self.encoder = ResNetEncoder(config.width, norm=config.norm, in_channels=input_channels(config.input))
        self.decoder = PixelDecoder(self.encoder.channels, config.embed_dim, norm=config.norm)
        gdim = self.encoder.global_dim
        self.shape_heads = nn.ModuleDict()
        self.pose_heads = nn.ModuleDict()
        for cat, (verts, faces) in priors.items():
            v = _as_tensor(verts, torch.float32)
            if v.shape[0] < config.num_keypoints:
                raise ValueError(f"prior {cat!r} has {v.shape[0]} vertices < {config.num_keypoints} keypoints")
            self.shape_heads[cat] = ShapeHead(
                v, _as_tensor(faces, torch.long), gdim, config.code_dim, config.shape_hidden,
                axes=config.shape_axes, tie_xz=SYMMETRY.get(cat, "none") == "continuous_y",
            )
            self.pose_heads[cat] = PoseHead(gdim, config.pose_hidden, config.z0)
            self.register_buffer(f"keypoints_{cat}", farthest_point_sampling(v, config.num_keypoints))
        self.pointnet = PointNetEmbedder(config.embed_dim, config.pointnet_hidden)
        self.keypoint_head = KeypointHead(self.decoder.hidden_channels, self.categories, config.num_keypoints)
        layers: list[nn.Module] = []
        in_dim = gdim
        for i, d in enumerate(config.projector_dims):
            layers.append(nn.Linear(in_dim, d))
            if i < len(config.projector_dims) - 1:
                layers += [nn.BatchNorm1d(d) if config.norm == "batch" else nn.LayerNorm(d), nn.ReLU()]
            in_dim = d
        self.projector = nn.Sequential(*layers)
        self.handle_head = nn.Linear(gdim, 1) if config.handle_head else None
        #: per-category (N,D) residuals of the vertex embeddings, zero at the start (a PointNet of the positions
        #: alone varies slowly over the surface, so its matches stay flat)
        self.vertex_tables = nn.ParameterDict({
            c: nn.Parameter(torch.zeros(h.num_vertices, config.embed_dim)) for c, h in self.shape_heads.items()
        }) if config.vertex_table else None
        self.log_tau = nn.Parameter(torch.tensor(float(np.log(config.tau)))) if config.learn_tau else None

    def fresh_parameter_names(self) -> list[str]:
        """Parameters that start from their initial values when an older checkpoint (``--init``) lacks them."""
        names = [f"vertex_tables.{c}" for c in self.vertex_tables] if self.vertex_tables is not None else []
        return names + (["log_tau"] if self.log_tau is not None else [])

    @property
    def tau(self) -> torch.Tensor | float:
        """The softmax temperature: learnt (a tensor in ``TAU_RANGE``) or the configured constant."""
        if self.log_tau is None:
            return self.config.tau
        return self.log_tau.exp().clamp(*TAU_RANGE)

    def vertex_embeddings(self, vertices: torch.Tensor, valid: torch.Tensor, names: Sequence[str]) -> torch.Tensor:
        """Unit per-vertex embeddings (B,N,D): the PointNet's, plus each category's table when there is one."""
        emb = self.pointnet(vertices, valid)
        if self.vertex_tables is None:
            return emb
        n = emb.shape[1]
        table = torch.stack([nn.functional.pad(self.vertex_tables[c], (0, 0, 0, n - self.vertex_tables[c].shape[0]))
                             for c in names])
        return nn.functional.normalize(emb + table.to(emb), dim=-1, eps=1e-6)

    def mean_mesh_parameters(self) -> list[nn.Parameter]:
        """The learnable mean meshes (the reference trains them with a 10x-100x smaller learning rate)."""
        return [h.mean_vertices for h in self.shape_heads.values()]

    def keypoint_indices(self, category: str) -> torch.Tensor:
        """FPS vertex indices (K,) of a category's keypoints."""
        return getattr(self, f"keypoints_{category}")

    def resolve_categories(self, categories: Sequence[str] | torch.Tensor, batch: int) -> list[str]:
        """Turn names or 0-based ids into ``self.categories`` into a list of names; validate."""
        if isinstance(categories, torch.Tensor):
            ids = categories.flatten().tolist()
            if any(not 0 <= i < len(self.categories) for i in ids):
                raise ValueError(f"category ids {ids} outside 0..{len(self.categories) - 1}")
            names = [self.categories[i] for i in ids]
        else:
            names = list(categories)
        if len(names) != batch:
            raise ValueError(f"{len(names)} categories for a batch of {batch}")
        unknown = sorted(set(names) - set(self.categories))
        if unknown:
            raise ValueError(f"unknown categories {unknown}; model has {self.categories}")
        return names

    @property
    def uses_depth(self) -> bool:
        """True when the network input has depth channels."""
        return self.config.input != "rgb"

    def network_input(self, crops: torch.Tensor, masks: torch.Tensor, names: Sequence[str], K: torch.Tensor,
                      depth: torch.Tensor | None) -> torch.Tensor:
        """The encoder input (B,C,S,S) of ``config.input`` from RGB crops and metric crop depth (or None)."""
        if not self.uses_depth:
            return crops
        idx = torch.tensor([self.categories.index(c) for c in names], device=crops.device)
        B, _, H, W = crops.shape
        return build_input(crops, depth, masks.reshape(B, 1, H, W), K, self.depth_scale[idx].to(crops),
                           self.config.input, self.config.depth_clip)

    def encode(self, crops: torch.Tensor, masks: torch.Tensor, categories: Sequence[str] | torch.Tensor,
               K_crop: torch.Tensor, depth: torch.Tensor | None = None) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Encoder features and global feature of the crops (what a second view or the EMA teacher needs)."""
        names = self.resolve_categories(categories, crops.shape[0])
        K = check_intrinsics(K_crop, crops.shape[0]).to(crops)
        return self.encoder(self.network_input(crops, masks, names, K, depth))

    def forward(
        self,
        crops: torch.Tensor,
        masks: torch.Tensor,
        categories: Sequence[str] | torch.Tensor,
        K_crop: torch.Tensor,
        depth: torch.Tensor | None = None,
    ) -> CSEOutput:
        """Run the model on (B,3,S,S) RGB crops, (B,S,S) masks, categories, crop intrinsics and (B,1,S,S) depth.

        ``depth`` (metres, 0/NaN = no reading) is used by RGB-D models and ignored by RGB ones; None or a crop
        without readings gives an RGB-D model its RGB-only input.
        """
        B, _, H, W = crops.shape
        if (H, W) != (self.config.image_size, self.config.image_size):
            raise ValueError(f"crops must be {self.config.image_size}^2, got {(H, W)}")
        if masks.shape != (B, H, W):
            raise ValueError(f"masks must be {(B, H, W)}, got {tuple(masks.shape)}")
        names = self.resolve_categories(categories, B)
        K = check_intrinsics(K_crop, B).to(crops)
        feats, g = self.encoder(self.network_input(crops, masks, names, K, depth))
        pix_emb, hidden = self.decoder(feats)
        h, w = pix_emb.shape[-2:]
        mesh = self._per_category(g, K, (H, W), names)
        vert_emb = self.vertex_embeddings(mesh["vertices"], mesh["vertex_valid"], names)
        fmask = downsample_mask(masks.float(), FEATURE_STRIDE)
        pixel_xy = pixel_grid(h, w, FEATURE_STRIDE, device=crops.device, dtype=crops.dtype)
        corr = correspond(
            pix_emb,
            vert_emb,
            mesh["vertices"],
            fmask,
            pixel_xy,
            self.tau,
            mesh["vertex_valid"],
            confidence_scale=float(max(H, W)),
        )
        kp_logits = self.keypoint_head(hidden, names)
        kp_idx = torch.stack([self.keypoint_indices(c) for c in names])
        return CSEOutput(
            categories=names,
            rotation=mesh["rotation"],
            translation=mesh["translation"],
            rotation_6d=mesh["rotation_6d"],
            vertices=mesh["vertices"],
            offsets=mesh["offsets"],
            vertex_valid=mesh["vertex_valid"],
            faces=mesh["faces"],
            face_valid=mesh["face_valid"],
            vertex_embeddings=vert_emb,
            pixel_embeddings=pix_emb,
            feature_mask=fmask,
            pixel_xy=pixel_xy,
            match_2d3d=corr.match_2d3d,
            match_3d2d=corr.match_3d2d,
            points3d=corr.points3d,
            vertex_pixels=corr.vertex_pixels,
            cycle_confidence=corr.cycle_confidence,
            keypoint_logits=kp_logits,
            keypoint_pixels=soft_argmax(kp_logits, pixel_xy),
            keypoint_indices=kp_idx,
            global_feature=g,
            global_embedding=self.projector(g),
            axis_log_scale=mesh["axis_log_scale"],
            normalised_extents=mesh["normalised_extents"],
            handle_logit=self.handle_head(g)[:, 0] if self.handle_head is not None else g.new_zeros(B),
        )

    def _per_category(self, g: torch.Tensor, K: torch.Tensor, size: tuple[int, int], names: list[str]) -> dict:
        """Run pose and shape heads per category group and zero-pad meshes to the largest one."""
        B = g.shape[0]
        n_max = max(self.shape_heads[c].num_vertices for c in names)
        f_max = max(self.shape_heads[c].faces.shape[0] for c in names)
        out = {
            "rotation": g.new_zeros(B, 3, 3),
            "translation": g.new_zeros(B, 3),
            "rotation_6d": g.new_zeros(B, 6),
            "vertices": g.new_zeros(B, n_max, 3),
            "offsets": g.new_zeros(B, n_max, 3),
            "vertex_valid": torch.zeros(B, n_max, dtype=torch.bool, device=g.device),
            "faces": torch.zeros(B, f_max, 3, dtype=torch.long, device=g.device),
            "face_valid": torch.zeros(B, f_max, dtype=torch.bool, device=g.device),
            "axis_log_scale": g.new_zeros(B, 3),
            "normalised_extents": g.new_zeros(B, 3),
        }
        for cat in dict.fromkeys(names):
            rows = torch.tensor([i for i, c in enumerate(names) if c == cat], device=g.device)
            R, t, d6 = self.pose_heads[cat](g[rows], K[rows], size)
            verts, offs, log_s = self.shape_heads[cat](g[rows])
            out["axis_log_scale"] = out["axis_log_scale"].index_copy(0, rows, log_s)
            out["normalised_extents"] = out["normalised_extents"].index_copy(
                0, rows, self.shape_heads[cat].normalised_extents(log_s))
            n, faces = verts.shape[1], self.shape_heads[cat].faces
            out["rotation"] = out["rotation"].index_copy(0, rows, R)
            out["translation"] = out["translation"].index_copy(0, rows, t)
            out["rotation_6d"] = out["rotation_6d"].index_copy(0, rows, d6)
            pad = (0, 0, 0, n_max - n)
            out["vertices"] = out["vertices"].index_copy(0, rows, nn.functional.pad(verts, pad))
            out["offsets"] = out["offsets"].index_copy(0, rows, nn.functional.pad(offs, pad))
            out["vertex_valid"][rows, :n] = True
            out["faces"][rows, : faces.shape[0]] = faces
            out["face_valid"][rows, : faces.shape[0]] = True
        return out
