"""Exports for analysts and tools: one row per message, or one conversation per session."""
