"""Mask R-CNN's two stages on one image, step by step: `inspect_stages(model, image)`.

The forward pass of torchvision's `MaskRCNN` is run here module by module, with the
model's OWN modules and settings (nothing of the heads is re-implemented):

1. `model.transform` normalises and resizes the image; `model.backbone` computes features.
2. The RPN: `rpn.head` scores every anchor of `rpn.anchor_generator`, `rpn.box_coder`
   decodes the proposals and `rpn.filter_proposals` keeps the best after the RPN's NMS.
3. `roi_heads.box_roi_pool` (RoIAlign), `box_head` and `box_predictor` classify and regress
   each proposal; the candidate cut, the small-box filter, class-wise NMS and the per-image
   limit are `RoIHeads.postprocess_detections`' own steps with torchvision's ops, kept here
   only so that every detection remembers its proposal and every NMS victim its suppressor.
4. `mask_roi_pool`, `mask_head` and `mask_predictor` give each final detection its logits.

The final detections are what `model(images)` returns (boxes, labels, scores; a test holds
it for every architecture). Works for `lite`, `r50-fpn` and `r50-fpn-v2` (whose box head is
a convolutional `FastRCNNConvFCHead`: it is called, not assumed).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.rpn import concat_box_prediction_layers
from torchvision.models.detection.transform import resize_boxes
from torchvision.ops import boxes as box_ops

from core.detection.detector import Detector
from core.detection.stage_view import Corners, StageDetection, StageView

TOP_CLASSES = 3
_MAX_SUPPRESSED = 1000  # NMS victims kept, best first: enough to explain any miss
_SMALL_BOX = 1e-2  # RoIHeads.postprocess_detections' own remove_small_boxes size


def _as_tensor(image: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    if isinstance(image, torch.Tensor):
        return image.to(device)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(
            f"expected an H x W x 3 uint8 RGB image, got {image.dtype} {tuple(image.shape)}"
        )
    pixels = torch.from_numpy(np.ascontiguousarray(image)).to(device)
    return pixels.permute(2, 0, 1).float().div_(255.0)


def _corners(row: Sequence[float]) -> Corners:
    return (float(row[0]), float(row[1]), float(row[2]), float(row[3]))


@torch.inference_mode()
def inspect_stages(
    model: MaskRCNN,
    image: np.ndarray | torch.Tensor,
    *,
    score_threshold: float = 0.5,
    label_names: Sequence[str] | None = None,
) -> StageView:
    """Run `model` (in eval mode) on one image stage by stage and return what each saw.

    `image` is an H x W x 3 uint8 RGB array or a 3 x H x W float tensor in 0..1 (what the
    model takes). `score_threshold` only splits the final detections into shown and under
    the threshold; the model's own candidate cut (`roi_heads.score_thresh`), NMS threshold
    and per-image limit are used as they are set. Boxes come back in the image's pixels.
    """
    if model.training:
        raise ValueError("inspect_stages needs the model in eval mode (model.eval())")
    device = next(model.parameters()).device
    tensor = _as_tensor(image, device)
    original = (int(tensor.shape[-2]), int(tensor.shape[-1]))
    images, _ = model.transform([tensor])
    resized = images.image_sizes[0]
    features = model.backbone(images.tensors)
    if isinstance(features, torch.Tensor):
        features = OrderedDict([("0", features)])

    # Stage one: torchvision's RegionProposalNetwork.forward, step by step.
    rpn = model.rpn
    levels = list(features.values())
    objectness, deltas = rpn.head(levels)
    anchors = rpn.anchor_generator(images, levels)
    per_level = [int(o[0].numel()) for o in objectness]
    objectness, deltas = concat_box_prediction_layers(objectness, deltas)
    decoded = rpn.box_coder.decode(deltas.detach(), anchors).view(1, -1, 4)
    proposal_list, proposal_scores = rpn.filter_proposals(
        decoded, objectness, images.image_sizes, per_level
    )
    proposals = proposal_list[0]

    # Stage two: the box branch of RoIHeads.forward.
    heads = model.roi_heads
    box_features = heads.box_roi_pool(features, [proposals], images.image_sizes)
    box_features = heads.box_head(box_features)
    class_logits, box_regression = heads.box_predictor(box_features)
    class_probs = F.softmax(class_logits, -1)
    regressed = heads.box_coder.decode(box_regression, [proposals])
    regressed = box_ops.clip_boxes_to_image(regressed, resized)

    # RoIHeads.postprocess_detections, remembering each candidate's proposal.
    num_labels = class_probs.shape[-1]
    count = proposals.shape[0]
    boxes = regressed[:, 1:].reshape(-1, 4)
    scores = class_probs[:, 1:].reshape(-1)
    labels = torch.arange(1, num_labels, device=device).repeat(count)
    sources = torch.arange(count, device=device).repeat_interleave(num_labels - 1)
    keep = torch.where(scores > heads.score_thresh)[0]
    boxes, scores, labels, sources = boxes[keep], scores[keep], labels[keep], sources[keep]
    keep = box_ops.remove_small_boxes(boxes, min_size=_SMALL_BOX)
    boxes, scores, labels, sources = boxes[keep], scores[keep], labels[keep], sources[keep]
    after_nms = box_ops.batched_nms(boxes, scores, labels, heads.nms_thresh)
    final = after_nms[: heads.detections_per_img]
    removed = torch.ones(len(boxes), dtype=torch.bool, device=device)
    removed[after_nms] = False
    victims = torch.where(removed)[0]
    victims = victims[torch.argsort(scores[victims], descending=True, stable=True)]
    victims = victims[:_MAX_SUPPRESSED]
    suppressors = _suppressors(boxes, labels, after_nms, victims, float(heads.nms_thresh))
    position = {int(k): i for i, k in enumerate(final.tolist())}

    # The mask branch on the final boxes, as RoIHeads.forward runs it.
    logits = torch.zeros((0, 28, 28))
    if heads.has_mask() and len(final):
        mask_features = heads.mask_roi_pool(features, [boxes[final]], images.image_sizes)
        mask_features = heads.mask_head(mask_features)
        all_logits = heads.mask_predictor(mask_features)
        logits = all_logits[torch.arange(len(final), device=device), labels[final]]

    # Back to the original image's pixels, as model.transform.postprocess does.
    proposals_out = resize_boxes(proposals, resized, original).float().cpu().numpy()
    boxes_out = resize_boxes(boxes, resized, original).float().cpu().tolist()
    probs = class_probs.float().cpu().numpy()
    top = np.argsort(-probs, axis=1, kind="stable")[:, :TOP_CLASSES]

    def detection(k: int, mask: np.ndarray | None = None, by: int | None = None) -> StageDetection:
        source = int(sources[k])
        return StageDetection(
            label=int(labels[k]),
            score=float(scores[k]),
            box=_corners(boxes_out[k]),
            proposal_index=source,
            proposal_box=_corners(proposals_out[source]),
            top_classes=tuple((int(c), float(probs[source, c])) for c in top[source]),
            mask_logits=mask,
            suppressed_by=by,
        )

    mask_logits = logits.float().cpu().numpy()
    names = tuple(label_names) if label_names else tuple(f"label {i}" for i in range(num_labels))
    return StageView(
        image_size=original,
        label_names=names,
        proposals=proposals_out,
        objectness=proposal_scores[0].float().cpu().numpy(),
        class_scores=probs,
        final=tuple(detection(int(k), mask_logits[i]) for i, k in enumerate(final.tolist())),
        suppressed=tuple(
            detection(int(v), by=position.get(s) if s >= 0 else None)
            for v, s in zip(victims.tolist(), suppressors, strict=True)
        ),
        score_threshold=float(score_threshold),
        candidate_threshold=float(heads.score_thresh),
        nms_threshold=float(heads.nms_thresh),
    )


def _suppressors(
    boxes: torch.Tensor,
    labels: torch.Tensor,
    kept: torch.Tensor,
    victims: torch.Tensor,
    threshold: float,
) -> list[int]:
    """For each NMS victim, the candidate index of the kept box that removed it (-1: none).

    Greedy NMS removes a box with the first kept box of its class, in score order, whose
    IoU with it exceeds the threshold; `kept` is batched_nms' output, already in that order.
    """
    if len(victims) == 0 or len(kept) == 0:
        return [-1] * len(victims)
    ious = box_ops.box_iou(boxes[victims], boxes[kept])
    same = labels[victims][:, None] == labels[kept][None, :]
    hits = (ious > threshold) & same
    first = torch.where(hits.any(dim=1), hits.int().argmax(dim=1), torch.full_like(victims, -1))
    return [int(kept[f]) if f >= 0 else -1 for f in first.tolist()]


def detector_label_names(detector: Detector) -> list[str]:
    """The name of each of the detector's labels ("background" for 0 and unknown ids)."""
    names = {c.id: c.name for c in detector.categories}
    return [
        names.get(cid, "background") if i else "background"
        for i, cid in enumerate(detector.label_category_ids)
    ]


def inspect_detector(
    detector: Detector, image: np.ndarray, *, score_threshold: float = 0.5
) -> StageView:
    """`inspect_stages` on a loaded Detector, its labels named after its categories."""
    return inspect_stages(
        detector.model,
        image,
        score_threshold=score_threshold,
        label_names=detector_label_names(detector),
    )
