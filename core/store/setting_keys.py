"""The keys of a project's settings table, in one place (values are JSON).

`ProjectStore.get_setting(key)` / `set_setting(key, value)` take these; a key written in two
places as a string literal is how a setting silently stops being read.
"""

from __future__ import annotations

MODEL = "model"  # the model proposals come from: an architecture name or a checkpoint path
PROPOSAL_THRESHOLD = "proposal_threshold"  # float: proposals below it are hidden, not deleted
LAST_IMAGE = "last_image"  # int: the image reopening the project starts at
IMAGE_ORDER = "image_order"  # "id" or "unsure_first": how the image list is sorted
MODELS_USED = "models_used"  # list of {"model", "first_used", "last_used"}, oldest first
COCO_EXTRA = "coco_extra"  # dict: unknown top-level fields of imported COCO files, e.g. "type"
