"""Importers of gateway session stores (OpenClaw, Hermes agent, PicoClaw) into the log."""
