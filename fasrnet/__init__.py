"""fasrnet: a reproducible pipeline for FaSRnet video pose estimation on PoseTrack2017/2018."""

__version__ = "0.1.0"
