"""Names and per-architecture settings of the Mask R-CNN models, without importing torch.

The command-line parsers and the app's dialogs list these; keeping them out of
`core.detection.architectures` means `maskloop --help`, `import`, `export` and `eval` never
load torch and torchvision (about 3 s and 800 MB).
"""

from __future__ import annotations

ARCHITECTURES = ("lite", "r50-fpn", "r50-fpn-v2")
# Architectures only read back from older checkpoints; never offered for new training.
LEGACY_ARCHITECTURES = ("lite-c5",)
# Architectures torchvision publishes no COCO weights for: a run from their name starts from
# random weights, so there is no "AP before" worth measuring.
FROM_SCRATCH_ARCHITECTURES = ("lite", "lite-c5")

# Image rescaling each architecture uses unless told otherwise (MaskRCNN's min_size/max_size).
# The r50 models keep torchvision's COCO settings, which their weights were trained with.
DEFAULT_IMAGE_SIZES: dict[str, tuple[int, int]] = {
    "lite": (256, 640),
    "lite-c5": (256, 640),
    "r50-fpn": (800, 1333),
    "r50-fpn-v2": (800, 1333),
}
