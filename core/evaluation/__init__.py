"""Scoring predictions against ground truth with pycocotools' COCOeval (or faster-coco-eval's,
which gives the same numbers, when asked for and installed)."""

# Here rather than in `metrics` so that building the `eval` parser loads neither numpy
# nor pycocotools.
IOU_TYPES = ("segm", "bbox")
BACKENDS = ("pycocotools", "faster")  # COCOeval's implementation; pycocotools by default
DEFAULT_BACKEND = "pycocotools"
