"""The gateways' pure parts, one folder each (openclaw/, hermes/, picoclaw/): their session
keys (`keys`: rendered from a resolution and parsed back) and their configuration converted
to a policy (`config`). The resolver renders keys through `render`; nothing here imports it.
Beside them, `sqlite_store`: every query the importers make of a gateway's own SQLite
file (read-only; the one part here that reads a file)."""
