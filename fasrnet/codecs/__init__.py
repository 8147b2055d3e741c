"""Codecs between annotations and network targets (mmpose keeps its codecs in a package of their own): the crop
geometry and the Gaussian heatmap codec (``heatmap``), on the ground floor beside the joint vocabulary
(``fasrnet.keypoints``), so that data, models and evaluation all import them and nothing imports upward
(``docs/architecture.md``). Import from the module: ``fasrnet.codecs.heatmap``."""
