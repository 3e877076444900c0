"""seg_pipeline: weekly, stable, explainable customer segments from product usage, CRM and support data."""

__version__ = "0.1.0"
