"""Model stage: retrain the week's segmentation, log it to MLflow, move @champion only through the gate."""
