"""Registers augdiff's built-in datasets (filled in this session)."""
