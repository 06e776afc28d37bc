"""The projector: folds the log into sessions, exactly once, in bounded batches."""

from projections.projector.catchup import Projector
from projections.projector.interface import BatchFold, FoldOutcome
from projections.projector.state import BATCH_SIZE, BatchResult, CatchUpResult

__all__ = ["BATCH_SIZE", "BatchFold", "BatchResult", "CatchUpResult", "FoldOutcome", "Projector"]
