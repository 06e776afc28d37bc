"""Hermes agent: its session store read into the log (`convlog import hermes`)."""
