"""Monitoring stage: confirmed segment moves with their explanations, the mass-migration gate and drift."""
