"""Reusable widgets that are neither docks nor dialogs (e.g. the live training charts)."""
