"""Scoring predictions against ground truth with pycocotools' COCOeval."""

# Here rather than in `metrics` so that building the `eval` parser loads neither numpy
# nor pycocotools.
IOU_TYPES = ("segm", "bbox")
