"""The token encodings convlog counts in, by name, and the default: importable at no cost
by anything that only names an encoding (a policy, a command's choices)."""

# The encodings a policy, a context call or CONVLOG_ENCODING may name.
KNOWN_ENCODINGS = ("cl100k_base", "o200k_base")
# What a deployment counts in when CONVLOG_ENCODING is unset, and what a policy that
# names no encoding is compiled in when nothing else is said (a projection stores its
# encoding when it is created, so its fold never asks the environment).
DEFAULT_ENCODING = "cl100k_base"
