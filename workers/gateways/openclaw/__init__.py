"""OpenClaw: its session store read into the log (`convlog import openclaw`)."""
