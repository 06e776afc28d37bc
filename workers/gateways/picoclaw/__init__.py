"""PicoClaw: its session store read into the log (`convlog import picoclaw`)."""
