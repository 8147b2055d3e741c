"""Datasets: PoseTrack formats, synthetic data, download, boxes and crops."""
