"""MaskLoop's core library: data model, project store, COCO I/O, detector, training, evaluation.

Nothing in this package imports Qt; another program can use it without the GUI.
"""

__version__ = "0.1.0"
