"""Reports stage: the static segment-health dashboard, built from the read-only warehouse snapshot."""
