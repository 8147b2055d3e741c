"""Networks: HRNet (official checkpoint layout), the FaSRnet head with every ablation variant of Tables 6–8, the
loss (the heatmap codec is one floor below, in ``fasrnet.codecs``), and torchvision's COCO person detector for
frames without a box file; below them all, reading a checkpoint as data. ``docs/model.md`` describes the network
as built.

The package imports nothing itself: a stage that needs one network does not load the others (and does not rerun
when they change, fasrnet/codedeps.py). Import from the modules: ``fasrnet.models.checkpoint``, ``.hrnet``,
``.alignment``, ``.fusion``, ``.semantic``, ``.fasrnet``, ``.loss``, ``.detector``."""
