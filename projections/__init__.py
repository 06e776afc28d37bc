"""Scope policies, the pure resolver, the projector and context assembly."""
