"""All loss terms of one training step, from one CSE forward pass and one batch, with their weights.

Terms whose weight is zero are not computed. Category-specific terms (regularisers, ego-motion pairs,
cross-instance pairs) only ever combine samples of one category, as the loss functions require.
Returns the weighted total and every unweighted term (for logging).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from selfpose_ros.conventions import HANDLE_CATEGORIES, SYMMETRY
from selfpose_ros.losses import cross_instance, ego_motion, instance_cycles, reconstruction, regularisers
from selfpose_ros.losses.contrastive import relative_viewpoint_infonce
from selfpose_ros.losses.keypoints import keypoint_heatmap_loss
from selfpose_ros.losses.multiview_pose import pose_consistency_loss
from selfpose_ros.losses.options import LabelWeights, LossOptions
from selfpose_ros.losses.pose_labels import (
    cell_depth,
    label_canonical_points,
    label_coords_loss,
    label_pose_losses,
    label_vertex_loss,
)
from selfpose_ros.losses.shape_size import handle_visibility_loss, shape_plausibility_loss, shape_size_loss
from selfpose_ros.losses.trajectory import trajectory_loss, vicreg_loss
from selfpose_ros.losses.weights import LossWeights
from selfpose_ros.model.camera import scale_intrinsics
from selfpose_ros.model.cse_model import FEATURE_STRIDE, CSEOutput
from selfpose_ros.model.keypoint_head import proxy_keypoint_targets
from selfpose_ros.model.soft_renderer import RenderResult, render_soft, transform_vertices

#: At most this many ordered same-instance pairs per step enter the ego-motion terms.
MAX_EGO_PAIRS = 32


@dataclass
class StepInputs:
    """What the losses need besides the model output."""

    rgb: torch.Tensor  #: (B,3,S,S) un-augmented crops in [0, 1]
    depth: torch.Tensor  #: (B,1,S,S) metres, 0 = none
    mask: torch.Tensor  #: (B,1,S,S)
    K: torch.Tensor  #: (B,3,3)
    T_BA: torch.Tensor  #: (B,B,4,4)
    pairs: torch.Tensor  #: (P,2) [a, b] same instance
    triplets: torch.Tensor  #: (T,3)
    group: torch.Tensor  #: (B,)
    frame_index: torch.Tensor  #: (B,)
    videos: int
    frames: int
    label_valid: torch.Tensor | None = None  #: (B,) bool
    label_scale: torch.Tensor | None = None  #: (B,)
    label_rot: torch.Tensor | None = None  #: (B,3,3)
    label_trans: torch.Tensor | None = None  #: (B,3) metres
    z2: torch.Tensor | None = None  #: (B,E) second-view embedding (VICReg)
    teacher_pixels: torch.Tensor | None = None  #: (B,D,h,w) EMA-teacher pixel embeddings
    label_extents: torch.Tensor | None = None  #: (B,3) metric box of the fused cloud (or ground truth)
    label_extents_valid: torch.Tensor | None = None  #: (B,) bool
    label_handle: torch.Tensor | None = None  #: (B,) bool: the mug's handle shows in the crop
    extent_lo: torch.Tensor | None = None  #: (B,3) log unit-diagonal extents, lower bound (plausibility)
    extent_hi: torch.Tensor | None = None  #: (B,3) upper bound


def _render(out: CSEOutput, inp: StepInputs, size: int, texture: bool, n: int
            ) -> tuple[RenderResult, torch.Tensor]:
    """Soft-render the first ``n`` samples at ``size`` x ``size``; return the result and the render intrinsics."""
    S = inp.rgb.shape[-1]
    Kr = scale_intrinsics(inp.K[:n], size / S)
    verts = transform_vertices(out.vertices[:n], out.rotation[:n], out.translation[:n])
    colours = reconstruction.sample_vertex_colours(inp.rgb[:n], out.vertex_pixels[:n]) if texture else None
    return render_soft(verts, out.faces[:n], Kr, (size, size), colours, out.face_valid[:n]), Kr


def _down(x: torch.Tensor, size: int, mode: str) -> torch.Tensor:
    return F.interpolate(x, size=(size, size), mode=mode) if x.shape[-1] != size else x


def _regularisers(out: CSEOutput, w: LossWeights, meshes: Mapping[str, tuple[int, torch.Tensor]]) -> dict:
    terms: dict[str, torch.Tensor] = {}
    B = len(out.categories)
    for cat in dict.fromkeys(out.categories):
        rows = torch.tensor([i for i, c in enumerate(out.categories) if c == cat], device=out.vertices.device)
        n, faces = meshes[cat]
        share = len(rows) / B
        v, off = out.vertices[rows, :n], out.offsets[rows, :n]
        if w.deformation > 0:
            terms["deformation"] = terms.get("deformation", 0.0) + share * regularisers.deformation_loss(off)
        lap_w = w.laplacian(n)  # depends on the vertex count, so it is applied here (logged weighted)
        if lap_w > 0:
            terms["laplacian"] = terms.get("laplacian", 0.0) + share * lap_w * regularisers.laplacian_loss(v, faces)
        if w.symmetry > 0:
            sym = regularisers.symmetry_loss(v, SYMMETRY.get(cat, "none"))
            terms["symmetry"] = terms.get("symmetry", 0.0) + share * sym
    return terms


def _ego_terms(out: CSEOutput, inp: StepInputs, w: LossWeights, depth_cells: torch.Tensor,
               metric_scale: torch.Tensor | None, gen: torch.Generator | None) -> dict:
    pairs = inp.pairs
    if pairs.shape[0] == 0:
        return {}
    if pairs.shape[0] > MAX_EGO_PAIRS:
        pick = torch.randperm(pairs.shape[0], generator=gen)[:MAX_EGO_PAIRS]
        pairs = pairs[pick.to(pairs.device)]
    a, b = pairs[:, 0], pairs[:, 1]
    S = inp.rgb.shape[-1]
    T = inp.T_BA[b, a]
    terms = {}
    fm = out.feature_mask
    if max(w.ego_cycle, w.ego_point, w.ego_similarity) > 0:
        ep = ego_motion.ego_pixel_pairs(depth_cells[a], fm[a], inp.K[a], T, depth_cells[b], fm[b], inp.K[b],
                                        FEATURE_STRIDE)
        if w.ego_cycle > 0:
            terms["ego_cycle"] = ego_motion.ego_cycle_loss(out.match_2d3d[a], out.vertex_pixels[b], ep, float(S))
        if w.ego_point > 0:
            terms["ego_point"] = ego_motion.ego_point_loss(out.points3d[a], out.points3d[b], ep)
        if w.ego_similarity > 0:
            terms["ego_similarity"] = ego_motion.ego_similarity_loss(out.match_2d3d[a], out.match_2d3d[b], ep)
    if w.pose_consistency > 0 and metric_scale is not None:
        ok = metric_scale[a] > 0
        if ok.any():
            a2, b2 = a[ok], b[ok]
            kinds = [SYMMETRY.get(out.categories[i], "none") for i in a2.tolist()]
            terms["pose_consistency"] = pose_consistency_loss(
                out.rotation[a2], out.translation[a2], out.rotation[b2], out.translation[b2], T[ok],
                metric_scale[a2], kinds)
    return terms


def _cross_instance(out: CSEOutput, inp: StepInputs, k: int) -> torch.Tensor | None:
    """Cycle to one other instance of the same category per sample, with EMA-teacher matches."""
    cats, groups = out.categories, inp.group.tolist()
    src, dst = [], []
    for i, c in enumerate(cats):
        for j in range(1, len(cats)):
            jj = (i + j) % len(cats)
            if cats[jj] == c and groups[jj] != groups[i]:
                src.append(i)
                dst.append(jj)
                break
    if not src or inp.teacher_pixels is None:
        return None
    a = torch.tensor(src, device=out.points3d.device)
    b = torch.tensor(dst, device=out.points3d.device)
    fm = out.feature_mask
    ia, ib, valid = cross_instance.mutual_nearest_pairs(inp.teacher_pixels[a], fm[a], inp.teacher_pixels[b], fm[b], k)
    return cross_instance.cross_instance_cycle_loss(out.match_2d3d[a], out.vertex_pixels[b], out.pixel_xy, ia, ib,
                                                    valid, float(inp.rgb.shape[-1]))


def _label_terms(out: CSEOutput, inp: StepInputs, lw: LabelWeights, opt: LossOptions, depth_cells: torch.Tensor,
                 terms: dict, weights: dict) -> torch.Tensor | None:
    """Add the pose-label terms (when the batch has labels); return the labels' metric scale per sample."""
    if inp.label_valid is None or not inp.label_valid.any():
        return None
    lv = inp.label_valid
    hidden = None
    if opt.hidden_handle_symmetric and inp.label_handle is not None:
        has_handle = torch.tensor([c in HANDLE_CATEGORIES for c in out.categories], device=lv.device)
        hidden = has_handle & ~inp.label_handle.bool()
    target = label_canonical_points(out.pixel_xy, depth_cells, inp.K, inp.label_scale, inp.label_rot,
                                    inp.label_trans)
    cw = out.feature_mask.flatten(1) * (depth_cells.flatten(1) > 0) * lv.unsqueeze(1)
    if lw.label_coords > 0:
        terms["label_coords"] = label_coords_loss(out.points3d, target, cw.to(target), out.categories,
                                                  opt.coords_symmetry_steps, symmetric=hidden)
    if lw.label_vertex > 0:
        terms["label_vertex"] = label_vertex_loss(out.match_2d3d, out.vertices, out.vertex_valid, target,
                                                  cw.to(target), out.categories, symmetric=hidden)
    rot, trans = label_pose_losses(out.rotation, out.translation, inp.label_rot,
                                   inp.label_trans / inp.label_scale.unsqueeze(1), lv, out.categories, hidden)
    terms["label_rotation"], terms["label_translation"] = rot, trans
    weights.update(label_coords=lw.label_coords, label_vertex=lw.label_vertex, label_rotation=lw.label_rotation,
                   label_translation=lw.label_translation)
    return torch.where(lv, inp.label_scale, torch.zeros_like(inp.label_scale))


def _render_terms(out: CSEOutput, inp: StepInputs, w: LossWeights, opt: LossOptions, terms: dict, extras: dict,
                  metric_scale: torch.Tensor | None) -> torch.Tensor | None:
    """Add the reconstruction terms (mask, depth, texture) and the 3D->2D cycle of the soft render.

    Returns the metric scale per sample: the labels' when known, else the rendered/observed depth ratio.
    """
    rs, S = opt.render_size, inp.rgb.shape[-1]
    if not rs or max(w.mask, w.depth, w.texture, w.imatch) <= 0:
        return metric_scale
    n = opt.render_samples or inp.rgb.shape[0]
    r, Kr = _render(out, inp, rs, w.texture > 0, n)
    extras["render"] = r
    tmask = _down(inp.mask[:n], rs, "area").squeeze(1)
    tdepth = _down(inp.depth[:n], rs, "nearest").squeeze(1)
    if w.mask > 0:
        terms["mask"] = reconstruction.mask_loss(r.mask, tmask, "l1", (1, 2))
    if w.depth > 0:
        terms["depth"] = reconstruction.depth_loss(r.depth, r.mask, tdepth, tmask)
    if w.texture > 0:
        img = _down(inp.rgb[:n], rs, "area")
        terms["texture"] = reconstruction.texture_loss(r.colour, r.mask, img, tmask)
    if metric_scale is None:
        valid = reconstruction.depth_valid_mask(r.mask, tdepth, tmask)
        ratio = reconstruction.mean_depth_ratio(r.depth, tdepth, valid).detach()
        metric_scale = torch.cat((ratio, ratio.new_zeros(inp.rgb.shape[0] - n)))  # 0: unknown, unused
    if w.imatch > 0:
        vc = transform_vertices(out.vertices[:n], out.rotation[:n], out.translation[:n])
        vis = instance_cycles.visibility_weights(vc, r.depth, Kr) * out.vertex_valid[:n]
        terms["imatch"] = instance_cycles.cycle_3d2d_loss(out.vertex_pixels[:n], vc, inp.K[:n], vis, float(S))
    return metric_scale


def _embedding_terms(out: CSEOutput, inp: StepInputs, w: LossWeights, opt: LossOptions, terms: dict) -> None:
    """Add the global-embedding terms (trajectory, VICReg, relative-viewpoint contrastive) and keypoints."""
    S = inp.rgb.shape[-1]
    z = out.global_embedding
    if w.traj > 0 and inp.triplets.shape[0] > 0:
        L, C, R = inp.triplets.unbind(1)
        terms["traj"] = trajectory_loss(z[L], z[C], z[R])
    if w.vicreg > 0 and inp.z2 is not None:
        terms["vicreg"] = vicreg_loss(z, inp.z2)
    if w.contrastive > 0 and z.shape[0] == inp.videos * inp.frames:
        try:
            terms["contrastive"] = relative_viewpoint_infonce(
                z.reshape(inp.videos, inp.frames, -1), inp.frame_index.reshape(inp.videos, inp.frames).to(z),
                opt.contrastive_near, opt.contrastive_far)
        except ValueError:  # no anchor with both a near and a far frame in this batch: the term is undefined
            pass
    if w.keypoints > 0:
        h, wd = out.keypoint_logits.shape[-2:]
        tgt = proxy_keypoint_targets(out.vertex_pixels, out.keypoint_indices, out.pixel_xy, (h, wd),
                                     opt.keypoint_sigma * S)
        terms["keypoints"] = keypoint_heatmap_loss(out.keypoint_logits, tgt)


def _shape_terms(out: CSEOutput, inp: StepInputs, w: LossWeights, terms: dict) -> None:
    """Add the instance-shape terms: proportions vs the label box, plausibility, handle visibility."""
    if w.shape_size > 0 and inp.label_extents is not None and inp.label_extents_valid is not None:
        terms["shape_size"] = shape_size_loss(out.normalised_extents, inp.label_extents, inp.label_extents_valid)
    if w.shape_plausible > 0 and inp.extent_lo is not None and inp.extent_hi is not None:
        terms["shape_plausible"] = shape_plausibility_loss(out.normalised_extents, inp.extent_lo, inp.extent_hi)
    if w.handle > 0 and inp.label_handle is not None and inp.label_valid is not None:
        has_handle = torch.tensor([c in HANDLE_CATEGORIES for c in out.categories], device=inp.label_valid.device)
        terms["handle"] = handle_visibility_loss(out.handle_logit, inp.label_handle, inp.label_valid & has_handle)


def compute_losses(
    out: CSEOutput,
    inp: StepInputs,
    w: LossWeights,
    lw: LabelWeights,
    opt: LossOptions,
    meshes: Mapping[str, tuple[int, torch.Tensor]],
    gen: torch.Generator | None = None,
) -> tuple[torch.Tensor, dict[str, float], dict]:
    """Return (weighted total, unweighted terms as floats, extras for images: render result).

    Steps, in this order: pose-label terms, rendering terms, 2D->3D cycle, regularisers, ego-motion terms,
    cross-instance cycle, embedding terms; then the weighted sum.
    """
    S = inp.rgb.shape[-1]
    terms: dict[str, torch.Tensor] = {}
    weights: dict[str, float] = {}
    depth_cells = cell_depth(inp.depth, inp.mask, FEATURE_STRIDE)
    extras: dict = {}
    metric_scale = _label_terms(out, inp, lw, opt, depth_cells, terms, weights)
    metric_scale = _render_terms(out, inp, w, opt, terms, extras, metric_scale)
    if w.match > 0:
        terms["match"] = instance_cycles.cycle_2d3d_loss(out.points3d, out.pixel_xy, out.feature_mask.flatten(1),
                                                         out.rotation, out.translation, inp.K, float(S))
    if w.keep_in_front > 0:
        terms["keep_in_front"] = regularisers.keep_in_front_loss(out.translation)
    terms.update(_regularisers(out, w, meshes))
    terms.update(_ego_terms(out, inp, w, depth_cells, metric_scale, gen))
    if w.cross_instance > 0:
        ci = _cross_instance(out, inp, opt.cross_instance_k)
        if ci is not None:
            terms["cross_instance"] = ci
    _embedding_terms(out, inp, w, opt, terms)
    _shape_terms(out, inp, w, terms)

    for name in terms:
        if name not in weights:
            weights[name] = 1.0 if name == "laplacian" else getattr(w, name)
    total = sum(weights[n] * v for n, v in terms.items())
    if not isinstance(total, torch.Tensor):
        total = out.points3d.sum() * 0.0
    return total, {n: float(v.detach()) for n, v in terms.items()}, extras
