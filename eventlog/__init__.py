"""The append-only event log: event models, the store, ingest, token counts and the database."""
