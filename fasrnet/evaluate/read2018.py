"""PoseTrack 2018 (COCO-like) files into :class:`~fasrnet.evaluate.posefile.PoseFile` arrays, converted as
poseval converts them (``docs/metric.md``, §3): exactly one ``person`` category naming all 15 PoseTrack joints
(ears dropped), images grouped into videos by their folder name, only the first video kept, a keypoint dropped
only if x = y = v = 0, missing or empty ``scores`` → -9999, ``bbox_head`` [x, y, w, h] → (x, y, x + w, y + h).
"""

from __future__ import annotations

import os
from itertools import chain
from typing import Any

import numpy as np

from fasrnet.data.jsonpath import finite_float, kind
from fasrnet.evaluate.fields import ABSENT, PosevalReader, file_video, is_finite_num, plain_numbers, same_video
from fasrnet.evaluate.posefile import MAX_TRACK_ID, MIN_SCORE, N_JOINTS, Persons, PoseFile, primary_joints
from fasrnet.keypoints import KEYPOINTS, POSEVAL_JOINTS

#: The 2018 keypoint name of each poseval joint (``neck`` is spelled ``head_bottom`` there).
NAMES_2018: tuple[str, ...] = tuple(KEYPOINTS[slot] for _, slot in POSEVAL_JOINTS)
#: The sequence types poseval accepts in a video folder name (``<digits>_<type>[_...]``).
SEQUENCE_TYPES = ("mpii", "bonn", "mpiinew")


class Loader2018:
    def __init__(self, obj: Any, r: PosevalReader, role: str):
        self.obj, self.r, self.role = obj, r, role

    frames: list[int] | None = None

    def frame_images(self) -> list[int]:
        """Validate images and categories; return, per frame of the first video, the index of the image
        poseval reads for it (the first image with the frame's id)."""
        r, obj = self.r, self.obj
        if not isinstance(obj, dict):
            raise r.fail("", f"expected a PoseTrack JSON object with 'images' or 'annolist', got {kind(obj)}")
        images = r.list(r.get(obj, "images", ""), "images")
        self.conv = _conversion_table(obj, r)
        if not images:
            raise r.fail("images", "no images (poseval needs at least one frame per file)")
        try:
            ids = [img["id"] for img in images]
        except (KeyError, TypeError):
            ids = [r.get(img, "id", f"images[{i}]") for i, img in enumerate(images)]  # names the offender
        if not plain_numbers(ids) or not all(type(v) is int or v.is_integer() for v in ids):
            for i, iid in enumerate(ids):
                r.image_id(iid, f"images[{i}].id")
        first: dict[Any, int] = {}
        info = [first.setdefault(iid, i) for i, iid in enumerate(ids)]
        if len(first) != len(ids):  # poseval would make both images frames with the same persons: refused
            i = next(i for i, j in enumerate(info) if j != i)
            raise r.fail(f"images[{i}].id", f"duplicate image id {ids[i]!r} (images[{info[i]}] has it too; "
                                            "docs/metric.md, §3)")
        self.images, self.first = images, first
        video = {}
        folders: dict[str, str] = {}
        for i in range(len(images)):
            video[i] = _video_of(r, images[i], f"images[{i}]", folders)
        key = video[0]
        named = file_video(r.path)
        if named is not None and not same_video(key, named):  # e.g. another sequence's predictions, renamed
            raise r.fail("images[0].file_name", f"expected a frame of video {named} (the file's name), got "
                                                f"{images[0]['file_name']!r} of video {key}")
        self.frames = [i for i in info if video[i] == key]
        return self.frames

    #: Prediction annotations whose ``image_id`` names no image (poseval drops them; a counted warning).
    n_unknown_image_ids = 0

    def _by_image(self, anns: list[Any]) -> dict[int, list[int]]:
        """Image index → the annotations (indices, in file order) whose ``image_id`` is that image's id.

        Every ``image_id`` must be an integer (:meth:`PosevalReader.image_id`). One that names no image is an
        error in GT; in predictions it is counted (:attr:`n_unknown_image_ids`) and the annotation dropped, as
        poseval drops it (docs/metric.md, §3)."""
        r = self.r
        try:  # the usual case: every annotation an object with an image_id
            ids = [ann["image_id"] for ann in anns]
        except (KeyError, TypeError):
            ids = [self._image_id_of(a, ann) for a, ann in enumerate(anns)]
        if not plain_numbers(ids) or not all(type(v) is int or v.is_integer() for v in ids):
            for a, iid in enumerate(ids):
                r.image_id(iid, f"annotations[{a}].image_id")
        images = list(map(self.first.get, ids))
        by_image: dict[int, list[int]] = {}
        unknown = 0
        for a, i in enumerate(images):
            if i is not None:
                by_image.setdefault(i, []).append(a)
            elif self.role != "pred":
                raise r.fail(f"annotations[{a}].image_id", f"no image with id {ids[a]!r} in 'images'")
            else:
                unknown += 1
        self.n_unknown_image_ids = unknown
        return by_image

    def _image_id_of(self, a: int, ann: Any) -> Any:
        r = self.r
        if not isinstance(ann, dict):
            raise r.fail(f"annotations[{a}]", f"expected an object, got {kind(ann)}")
        if "image_id" not in ann:
            raise r.fail(f"annotations[{a}].image_id", "missing")
        return ann["image_id"]

    def run(self, eval_mask: np.ndarray | None) -> PoseFile:
        r, pred = self.r, self.role == "pred"
        frames = self.frames if self.frames is not None else self.frame_images()
        images, conv = self.images, self.conv
        anns = r.list(r.get(self.obj, "annotations", ""), "annotations")
        by_image = self._by_image(anns)
        matched = sorted(a for lst in by_image.values() for a in lst)
        # Validate every person poseval converts (all videos), vectorised where the file is regular.
        kp, tid, head, head_ok, score, has_score = _annotation_arrays(r, anns, matched, conv)
        row_of = np.full(len(anns), -1, np.int64)
        row_of[matched] = np.arange(len(matched))

        n = len(frames)
        n_rects = np.array([len(by_image.get(i, ())) for i in frames], np.int64)
        frame_where = [f"images[{i}]" for i in frames]
        frame_name = [images[i]["file_name"] for i in frames]
        if eval_mask is None:
            eval_mask = n_rects > 0
        # Track ids of the first video: below 10000; unique within a prediction frame.
        all_ann = np.array([a for i in frames for a in by_image.get(i, ())], np.int64)
        all_frame = np.repeat(np.arange(n), n_rects)
        t = tid[row_of[all_ann]]
        bad = np.flatnonzero(t >= MAX_TRACK_ID)
        if len(bad):
            a = int(all_ann[bad[0]])
            raise r.fail(f"annotations[{a}].track_id", f"track id {anns[a]['track_id']!r} must be below "
                                                      f"{MAX_TRACK_ID} (poseval offsets track ids per sequence)")
        if pred and len(t) > 1:
            order = np.lexsort((t, all_frame))
            same = (all_frame[order][1:] == all_frame[order][:-1]) & (t[order][1:] == t[order][:-1])
            if same.any():
                f = int(all_frame[order][1:][same].min())
                lst = by_image[frames[f]]
                r.unique_track_ids([(float(v), f"annotations[{a}].track_id") for v, a in
                                    zip(tid[row_of[lst]], lst)], frame_name[f])
        # Persons of evaluated frames (a frame listed twice under one image id repeats its persons).
        ev = [f for f in range(n) if eval_mask[f]]
        ann_rows = [a for f in ev for a in by_image.get(frames[f], ())]
        frame_of = np.array([f for f in ev for _ in by_image.get(frames[f], ())], np.int64)
        rows = row_of[np.asarray(ann_rows, np.int64)]
        persons = _persons_2018(kp[rows], score[rows], conv, frame_of, head[rows], head_ok[rows],
                                np.asarray(ann_rows, np.int64))
        regions = {}
        kept = {frames[f]: f for f in ev} if not pred else {}
        for i, img in enumerate(images):  # every image's regions have their form checked; evaluated GT's are kept
            if "ignore_regions_x" in img or "ignore_regions_y" in img:
                polys = _regions_2018(r, img, f"images[{i}]")
                if polys and i in kept:
                    regions[kept[i]] = polys
        fallback = int((~has_score[rows]).sum()) if pred else 0
        return PoseFile(r.path, 18, n_rects, persons, frame_where, frame_name, regions, n_fallback_scores=fallback,
                        n_unknown_image_ids=self.n_unknown_image_ids)


def _conversion_table(obj: dict[str, Any], r: PosevalReader) -> list[int]:
    """For each keypoint of the file's category, its poseval joint id (-1: dropped, e.g. the ears)."""
    cats = r.list(r.get(obj, "categories", ""), "categories")
    if len(cats) != 1:
        raise r.fail("categories", f"expected exactly one category (person), got {len(cats)}")
    name = r.get(cats[0], "name", "categories[0]")
    if name != "person":
        raise r.fail("categories[0].name", f"expected 'person', got {kind(name)}")
    names = r.list(r.get(cats[0], "keypoints", "categories[0]"), "categories[0].keypoints")
    if len(names) not in (15, 17):
        raise r.fail("categories[0].keypoints", f"expected 15 or 17 keypoint names, got {len(names)}")
    conv = [NAMES_2018.index(n) if isinstance(n, str) and n in NAMES_2018 else -1 for n in names]
    missing = [n for j, n in enumerate(NAMES_2018) if j not in conv]
    if missing:
        raise r.fail("categories[0].keypoints",
                     f"missing keypoint names {missing} (poseval needs all 15; it spells neck 'head_bottom')")
    return conv


def _video_of(r: PosevalReader, img: Any, where: str, folders: dict[str, str]) -> str:
    """poseval's video key of an image: the digits before '_' in its folder name (which it parses)."""
    name = r.string(r.get(img, "file_name", where), f"{where}.file_name")
    raw_head, _, base = name.rpartition("/")  # base is os.path.split's tail; raw_head determines its head
    key = folders.get(raw_head)
    if key is None:
        folder = os.path.basename(os.path.split(name)[0])
        tok = folder.split("_")
        try:
            int(tok[0])
            ok = len(tok) > 1 and tok[1] in SEQUENCE_TYPES
        except ValueError:
            ok = False
        if not ok:
            raise r.fail(f"{where}.file_name", f"video folder {folder!r} of {name!r} must look like "
                                              "<digits>_<mpii|bonn|mpiinew>[_...] (poseval parses it)")
        key = folders[raw_head] = tok[0]
    try:
        frame = int(base.split(".")[0])
    except ValueError:
        frame = -1
    if not 0 <= frame < 10000:
        raise r.fail(f"{where}.file_name", f"image name {base!r} must be a frame number below 10000 "
                                          "(poseval parses it)")
    return key


def _regions_2018(r: PosevalReader, img: dict[str, Any], where: str) -> list[tuple[np.ndarray, str]]:
    """An image's ignore regions. poseval zips the x and y lists (polygons, then vertices), so the shorter counts;
    the form rule shared with the training reader wants both lists, of equal lengths (docs/metric.md, §11), which
    the released files always have: zipping then changes nothing."""
    if "ignore_regions_x" not in img or "ignore_regions_y" not in img:
        raise r.fail(where, "ignore_regions_x and ignore_regions_y must appear together")
    rx = r.list(img["ignore_regions_x"], f"{where}.ignore_regions_x")
    ry = r.list(img["ignore_regions_y"], f"{where}.ignore_regions_y")
    if len(rx) != len(ry):
        raise r.fail(f"{where}.ignore_regions_y", f"expected {len(rx)} polygons like ignore_regions_x, got {len(ry)}")
    out = []
    for m, (xs, ys) in enumerate(zip(rx, ry)):
        wx, wy = f"{where}.ignore_regions_x[{m}]", f"{where}.ignore_regions_y[{m}]"
        if len(r.list(xs, wx)) != len(r.list(ys, wy)):
            raise r.fail(wy, f"expected {len(xs)} numbers, got {len(ys)}")
        out.append((r.polygon(xs, ys, wx, wy), wx))
    return out


def _annotation_arrays(r: PosevalReader, anns: list[Any], matched: list[int], conv: list[int]):
    """Arrays over the matched annotations: keypoints (M, 3K), track ids (M,), head boxes (M, 4) and their
    presence, scores (M, K) and their presence. Raises InputFormatError on what breaks poseval's conversion, and
    on what ``annotations check`` refuses besides (booleans, nested lists, K + 1 scores, 5-number boxes, a
    non-numeric person ``score``; docs/metric.md, §11). The fast paths hand a field to numpy only after
    :func:`plain_numbers` has seen nothing but ints and floats in it; anything else goes value by value, which
    words the error."""
    m = len(matched)
    k_all = len(conv)
    sel = [anns[a] for a in matched]
    kp = None
    try:
        kp_lists = [d["keypoints"] for d in sel]
        tid_list = [d["track_id"] for d in sel]
        if (all(type(v) is list and len(v) == 3 * k_all for v in kp_lists)
                and plain_numbers(chain.from_iterable(kp_lists))):
            arr = np.array(kp_lists) if m else np.zeros((0, 3 * k_all))
            if arr.dtype.kind in "iuf" and arr.shape == (m, 3 * k_all):
                kp = arr.astype(np.float64, copy=False)
        tid = np.array(tid_list) if m and plain_numbers(tid_list) else np.zeros(0 if not m else 1, object)
        if tid.dtype.kind not in "iu" and not (tid.dtype.kind == "f" and np.isfinite(tid).all()
                                               and np.all(np.mod(tid, 1) == 0)):
            kp = None
    except KeyError:
        kp = None
    if kp is None:  # irregular: find the offending annotation (or build row by row)
        kp = np.zeros((m, 3 * k_all))
        tid = np.zeros(m)
        for row, (a, d) in enumerate(zip(matched, sel)):
            where = f"annotations[{a}]"
            if "track_id" not in d:
                raise r.fail(f"{where}.track_id", "missing")
            tid[row] = r.track_id(d["track_id"], f"{where}.track_id")
            kw = f"{where}.keypoints"
            if "keypoints" not in d:
                raise r.fail(kw, "missing")
            vals = r.list(d["keypoints"], kw)
            if len(vals) != 3 * k_all:
                raise r.fail(kw, f"expected {3 * k_all} numbers, got {len(vals)}")
            kp[row] = [r.num(v, f"{kw}[{q}]") for q, v in enumerate(vals)]
    else:
        r.check_finite(kp, lambda row, q: f"annotations[{matched[row]}].keypoints[{q}]")
    tid = tid.astype(np.float64)

    head = np.full((m, 4), np.nan)
    head_ok = np.zeros(m, bool)
    score = np.full((m, k_all), MIN_SCORE)
    has_score = np.zeros(m, bool)
    heads = [d.get("bbox_head", ABSENT) for d in sel]
    boxes = [d.get("bbox", ABSENT) for d in sel]
    scores = [d.get("scores") for d in sel]
    if all(type(h) is list and len(h) == 4 for h in heads) and plain_numbers(chain.from_iterable(heads)):
        arr = np.array(heads) if m else np.zeros((0, 4))
        if arr.dtype.kind in "iuf" and arr.shape == (m, 4):
            r.check_finite(arr, lambda row, q: f"annotations[{matched[row]}].bbox_head[{q}]")
            head = _head_box(arr)
            head_ok[:] = True
            heads = None
    if heads is not None:
        for row, (a, h) in enumerate(zip(matched, heads)):
            if h is ABSENT:
                continue  # needed only where this GT person meets predictions (checked there)
            hb = _box(r, h, f"annotations[{a}].bbox_head")
            head[row] = _head_box(np.asarray([hb]))[0]
            head_ok[row] = True
    if not all(b is ABSENT or (type(b) is list and len(b) == 4 and all(is_finite_num(v) for v in b)) for b in boxes):
        for a, b in zip(matched, boxes):
            if b is not ABSENT:
                _box(r, b, f"annotations[{a}].bbox")  # poseval reads (and would crash on) bbox too
    if all(type(s) is list and len(s) == k_all for s in scores) and plain_numbers(chain.from_iterable(scores)):
        arr = np.array(scores) if m else np.zeros((0, k_all))
        if arr.dtype.kind in "iuf" and arr.shape == (m, k_all):
            # every score, the ears' too, although poseval reads only kept ones (docs/metric.md, §11)
            r.check_finite(arr, lambda row, q: f"annotations[{matched[row]}].scores[{q}]")
            score = arr.astype(np.float64)
            has_score[:] = True
            scores = None
    if scores is not None:
        for row, (a, s) in enumerate(zip(matched, scores)):
            if not s:
                continue  # missing, null or empty: every joint scores -9999
            sw = f"annotations[{a}].scores"
            s = r.list(s, sw)
            if len(s) != k_all:
                raise r.fail(sw, f"expected {k_all} numbers, got {len(s)}")
            score[row] = [r.num(v, f"{sw}[{q}]") for q, v in enumerate(s)]
            has_score[row] = True
    person_scores = [d["score"] for d in sel if d.get("score") is not None]
    if not (plain_numbers(person_scores) and all(finite_float(v) is not None for v in person_scores)):
        for a, d in zip(matched, sel):
            if d.get("score") is not None:  # not used by AP; annotations check reads it
                r.num(d["score"], f"annotations[{a}].score")
    return kp, tid, head, head_ok, score, has_score


def _box(r: PosevalReader, value: Any, where: str) -> list[float]:
    """A 2018 [x, y, w, h] box: exactly four numbers (poseval would read the first four of more)."""
    vals = r.list(value, where)
    if len(vals) != 4:
        raise r.fail(where, f"expected 4 numbers, got {len(vals)}")
    return [r.num(v, f"{where}[{q}]") for q, v in enumerate(vals[:4])]


def _head_box(xywh: np.ndarray) -> np.ndarray:
    """[x, y, w, h] → (x1, y1, x2, y2) = (x, y, x + w, y + h), computed as poseval computes it."""
    xywh = np.asarray(xywh, dtype=np.float64)
    return np.stack([xywh[:, 0], xywh[:, 1], xywh[:, 0] + xywh[:, 2], xywh[:, 1] + xywh[:, 3]], axis=1)


def _persons_2018(kp: np.ndarray, sc: np.ndarray, conv: list[int], frame: np.ndarray, head: np.ndarray,
                  head_ok: np.ndarray, ann: np.ndarray) -> Persons:
    n = len(frame)
    kp3 = kp.reshape(n, len(conv), 3)
    present = ~((kp3[:, :, 0] == 0) & (kp3[:, :, 1] == 0) & (kp3[:, :, 2] == 0))
    src = np.stack([ann, np.zeros(n, np.int64)], axis=1)
    ids = [j for j in conv if j >= 0]
    persons = Persons(
        frame=frame, xy=np.zeros((n, N_JOINTS, 2)), has=np.zeros((n, N_JOINTS), bool),
        score=np.full((n, N_JOINTS), MIN_SCORE), head=head, head_ok=head_ok, has_points=np.ones(n, bool),
        has_tid=np.ones(n, bool), src=src,
    )
    if len(ids) == len(set(ids)):  # the usual case: one keypoint per joint id
        cols = np.array([conv.index(j) for j in range(N_JOINTS)])
        persons.xy = np.ascontiguousarray(kp3[:, cols, :2])
        persons.has = np.ascontiguousarray(present[:, cols])
        persons.score = np.ascontiguousarray(sc[:, cols])
        return persons
    # A joint named twice in the category: per person, the first present keypoint of each id counts.
    keep = [k for k, j in enumerate(conv) if j >= 0]
    for row in range(n):
        pts = [(conv[k], kp3[row, k, 0], kp3[row, k, 1], sc[row, k]) for k in keep if present[row, k]]
        xy, has, score, plain = primary_joints(pts)
        persons.xy[row], persons.has[row], persons.score[row] = xy, has, score
        if not plain:
            persons.extra[row] = np.asarray(pts, dtype=np.float64).reshape(-1, 4)
    return persons
