"""Mask work cut to a box, for the canvas: the Qt-free functions live in core.mask_crops
(tiled inference uses them too); the canvas modules import them from here."""

from core.mask_crops import Box, decode_crop, encode_crop, paste, rle_counts, tight, union_box

__all__ = ["Box", "decode_crop", "encode_crop", "paste", "rle_counts", "tight", "union_box"]
