"""Small gateway stores for `convlog import` examples (package data)."""
