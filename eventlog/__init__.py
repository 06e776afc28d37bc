"""The append-only event log: event models, the store, ingest and the workload generator."""
