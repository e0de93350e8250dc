"""Dialogs of the annotator window: export, model choice, shortcut sheet, error messages."""
