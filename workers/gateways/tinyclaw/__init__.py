"""The TinyClaw (TinyAGI) importer: its SQLite queue database, read-only."""
