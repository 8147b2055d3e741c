"""Synthetic PoseTrack: seeded videos of articulated people, written in exactly the real on-disk layout.

Under ``<root>/<name>/`` (``name`` is ``syn17``, written in the 2017 ``annolist`` format, or ``syn18``, written
in the 2018 COCO-like format; same generator, different seeds)::

    images/<split>/<video>/<frame:06d>.jpg       frames from 000000, split in train/val/test
    annotations/<split>/<video>.json             one PoseTrack file per video (test: frames only, no persons)
    detections/val_boxes.json, test_boxes.json   DCPose/PoseWarper precomputed-box format, every frame
    meta.json                                    generation params and every video's degradation episodes

A box is ``{"image_name", "image_id", "category_id": 1, "bbox": [x, y, w, h], "score", "nframes", "frame_id"}``
with ``image_id == frame_id ==`` the PoseTrack18 image id of the frame (``1`` + video id + 4-digit frame), for
both sets, as in the PoseTrack18 files' ``images[].frame_id``.

Videos are named like PoseTrack's (``000342_mpii_test``; distinct ids across splits). A frame shows 1..N
people drawn as a 3D stick body (pelvis, torso box, neck, head with hair and face, tapered limbs, hands, feet)
posed by smooth joint-angle processes (walking gait, gestures, dancing, crouching, standing), turned by a yaw
angle (front, profile and back views) and projected orthographically, with translation and scale change
(walkers move sideways or toward/away from the camera). Clothing is per person (colour and texture: stripes,
checks, noise); the person's left limbs are shaded a little darker, as clothing often is. The background is a
textured canvas (sky, ground, buildings, trees, passing cars) that the camera pans over.

Degradations (the point of the paper) come in *episodes* of 1..``episode_max_frames`` frames on one person
or on the whole frame, separated by clean frames, so the neighbours t−1, t+1 of a degraded frame are often
clean: motion blur (temporal supersampling of fast motion: blur grows with joint speed; camera shake for a
frame), defocus, and occlusion by a moving object (boxes, balls, poles, fences) crossing the person or the
frame. People also leave the frame partly. ``meta.json`` lists every episode.

Annotation habits follow PoseTrack: train videos are labeled densely in a central window, val/test every
``val_stride``-th frame plus a dense central window (``is_labeled``); joints outside the image or hidden by an
occluder or a person in front are not annotated; ears and the nose of a person seen from behind never are;
``bbox_head`` frames the head, ``bbox`` the person's silhouette (clipped to the image); ``track_id`` is stable
within a video. Some videos contain a crowd blob (small unannotated figures) inside an ignore region.

Determinism: every random draw comes from ``numpy.random.default_rng`` streams seeded by (params seed, dataset
name, split, video index), one stream each for the scene, the sensor noise and the detections; the same
params give byte-identical files.

The package, bottom to top (each module imports only modules listed before it)::

    names         dataset names and formats, splits, sources, degradation kinds; a name's seed key
    geometry      rotations, vectors, soft limits, random colours
    raster        sub-pixel (fixed-point) filled shapes
    body          proportions, clothing, joint-angle motion, forward kinematics -> a projected Pose
    actors        the people of a video and their paths
    degradations  episodes (when) and what each kind does (motion blur, defocus, occlusion)
    scene         background, cars, crowd; build_scene draws a video's scene
    render        one frame: people, occluders, frame effects, noise; who owns each pixel
    detections    noisy val/test person boxes
    video         one video: frames, annotation, boxes (generate_video)
    dataset       a whole set on disk with meta.json (synthesize_dataset)
    preview       a PNG of written sets around degradation episodes (render_preview)
    clip          one val video as an .mp4 with its boxes, episodes and GT, for ``fasrnet demo`` (write_clip)

``docs/synthetic.md`` gives the design and what the sets can and cannot stand in for.
"""

from fasrnet.data.synthetic.clip import ClipSummary, write_clip
from fasrnet.data.synthetic.dataset import DatasetSummary, synthesize_dataset
from fasrnet.data.synthetic.degradations import Episode
from fasrnet.data.synthetic.names import (
    DATASET_FORMATS,
    GENERATOR_VERSION,
    KINDS,
    SOURCES,
    dataset_format,
)
from fasrnet.data.synthetic.preview import render_preview
from fasrnet.data.synthetic.video import GeneratedVideo, generate_video, labeled_frames, video_names
from fasrnet.paths import SPLITS

__all__ = [
    "ClipSummary",
    "DATASET_FORMATS",
    "GENERATOR_VERSION",
    "KINDS",
    "SOURCES",
    "SPLITS",
    "DatasetSummary",
    "Episode",
    "GeneratedVideo",
    "dataset_format",
    "generate_video",
    "labeled_frames",
    "render_preview",
    "synthesize_dataset",
    "video_names",
    "write_clip",
]
