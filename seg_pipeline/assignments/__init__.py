"""Assignments stage: every active account's stable segment for the week, and the segment catalog."""
