"""Hermes agent: its session keys (rendered and parsed back) and its configuration as a policy."""
