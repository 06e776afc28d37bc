"""The HTTP API: a FastAPI app on uvicorn over the log and its projections (`convlog serve`)."""
