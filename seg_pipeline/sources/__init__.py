"""Data sources: the landing-file contracts, their readers, export mappings and the demo simulator."""
