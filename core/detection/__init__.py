"""Mask R-CNN: architectures, weights, checkpoints, the detector, proposals and uncertainty.

Importing a module here imports torch, except `core.detection.names` (architecture names
and settings), which the light CLI commands and the app's dialogs use.
"""
