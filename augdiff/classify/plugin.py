"""Registers augdiff's built-in classifiers (filled in this session)."""
