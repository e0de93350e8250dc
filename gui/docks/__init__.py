"""The docks around the canvas: image list, labels, instances, model."""
