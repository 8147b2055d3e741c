"""``fasrnet demo``: a trained run on one clip (a video file or a folder of frames), the frozen backbone alone
beside it (docs/demo.md).

Modules, bottom to top: ``frames`` (reading the clip, frame names), ``boxes`` (a box file matched to the clip's
frames), ``marks`` (which frames are degraded), ``overlay`` (drawing and writing ``overlay.mp4``), ``run`` (the
demo itself). The clip to try it on with the embedded default, a synthetic val video with its boxes, is not
written here: :mod:`fasrnet.data.synthetic.clip` writes it (``fasrnet synthesize --video``).
"""
