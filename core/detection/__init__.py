"""Mask R-CNN: architectures, weights, checkpoints, the detector, proposals and uncertainty.

Nothing here is imported by the light CLI commands; importing a module here imports torch."""
