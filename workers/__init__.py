"""Composition root: the CLI, settings wiring and dramatiq actors."""
