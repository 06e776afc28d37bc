"""The gateways' own session keys: rendering (OpenClaw, Hermes agent, PicoClaw) and parsing back."""
