"""COCO JSON: import into a project, export from it, and the validation both share."""
