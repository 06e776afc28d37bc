"""TinyClaw (TinyAGI): how it groups sessions, as a convlog policy."""
