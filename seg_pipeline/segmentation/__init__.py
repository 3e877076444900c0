"""Segmentation: preprocessing, the hybrid K-means + DBSCAN model, stable ids, personas, MLflow tracking."""
