"""The dramatiq actors that fold projections, and the worker process that enqueues them."""
