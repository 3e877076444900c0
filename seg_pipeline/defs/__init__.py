"""Thin Dagster wiring; the logic lives in the stage packages beside this folder."""
