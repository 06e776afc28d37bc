"""The gateways' pure parts, one folder each (openclaw/, hermes/, picoclaw/): their session
keys (`keys`: rendered from a resolution and parsed back) and their configuration converted
to a policy (`config`). The resolver renders keys through `render`; nothing here imports it."""
