"""What `--augment` accepts, without importing torch (the parser and TrainConfig need it)."""

from __future__ import annotations

# "auto" picks one of the others from the planned run length.
AUGMENTATIONS = ("auto", "full", "light", "flip", "none")

# "auto" adds scale jitter only for runs planned for at least this many epochs. Short runs
# are under-fitted, and cropping and padding slow fitting down more than they help: lite from
# scratch on 270 shapes images for 4 minutes (~16 epochs), held-out mask AP on 200 images:
# flip and scale jitter 0.317, flip only 0.409 / 0.316 / 0.313 (seeds 0-2), flip and colour
# 0.404 / 0.358 / 0.386. Colour distortion keeps every shape whole, so short runs get it.
# `core.training.transforms.resolve_augmentation` reads it through its own module global.
AUTO_AUGMENT_MIN_EPOCHS = 20.0
