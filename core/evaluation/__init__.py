"""Scoring predictions against ground truth with pycocotools' COCOeval."""
