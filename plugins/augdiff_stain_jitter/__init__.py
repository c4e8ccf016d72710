"""augdiff generator plugin (being written)."""
