"""`convlog retention`: being written (registers no verb yet)."""

from __future__ import annotations

import argparse


def register(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Nothing to register yet."""
