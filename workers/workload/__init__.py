"""A realistic synthetic workload of gateway events (seeded, streaming) and the shipped sample."""

from workers.workload.generator import EventDict, generate
from workers.workload.jsonl import write_jsonl
from workers.workload.sample import sample_path, sample_text
from workers.workload.world import START

__all__ = ["START", "EventDict", "generate", "sample_path", "sample_text", "write_jsonl"]
