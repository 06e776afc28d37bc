"""A realistic synthetic workload of gateway events (seeded, streaming) and the shipped sample."""

from workers.tools.workload.generator import EventDict, generate
from workers.tools.workload.sample import sample_path, sample_text
from workers.tools.workload.world import START
from workers.tools.workload.writing import write_jsonl

__all__ = ["START", "EventDict", "generate", "sample_path", "sample_text", "write_jsonl"]
