"""`convlog demo`: the main job, on the embedded default (filled in with the rescoping work)."""

from __future__ import annotations

import argparse


def register(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = verbs.add_parser("demo", help="a realistic workload under several policies")
    demo.add_argument("--events", type=int, default=20_000)
    demo.add_argument("--seed", type=int, default=7)
    demo.set_defaults(handler=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    from workers.demo import run

    return run(events=args.events, seed=args.seed)
