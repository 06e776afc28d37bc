"""The projector: folds the log into sessions, exactly once, in bounded batches."""

from projections.projector.catchup import Projector
from projections.projector.interface import BatchFold, FoldOutcome
from projections.projector.state import BatchResult, CatchUpResult

__all__ = ["BatchFold", "BatchResult", "CatchUpResult", "FoldOutcome", "Projector"]
