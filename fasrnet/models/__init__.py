"""Networks and geometry: HRNet (official checkpoint layout), the heatmap codec, the FaSRnet head with every
ablation variant of Tables 6–8, and the loss. ``docs/model.md`` describes the network as built.

The package imports nothing itself: a stage that needs the heatmap codec does not load the networks and the loss
(and does not rerun when they change, fasrnet/codedeps.py). Import from the modules: ``fasrnet.models.hrnet``,
``.heatmap``, ``.alignment``, ``.fusion``, ``.semantic``, ``.fasrnet``, ``.loss``."""
