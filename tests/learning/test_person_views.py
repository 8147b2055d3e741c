"""crops.train_views K > 1: each epoch of head training takes one view of every person (epoch e: view e mod K),
not all K; with K = 1 the epoch's items are every crop in store order, as before."""

import numpy as np
import pytest

from fasrnet.errors import FasrnetError
from fasrnet.train import person_views


def _arrays(keys):
    video, frame, person = np.array(keys).T
    return {"video": video, "frame": frame, "person": person}


def test_one_view_per_person_is_every_crop_in_store_order():
    keys = [(0, 1, 0), (0, 1, 1), (0, 2, 0), (1, 0, 0)]
    assert person_views(_arrays(keys)).tolist() == [[0], [1], [2], [3]]


def test_k_views_are_grouped_per_person_in_store_order():
    # the crops stage writes a person's K views one after another; any order works
    keys = [(0, 1, 0), (0, 1, 0), (0, 1, 1), (0, 1, 1), (3, 0, 2), (0, 2, 0), (3, 0, 2), (0, 2, 0)]
    views = person_views(_arrays(keys))
    assert views.tolist() == [[0, 1], [2, 3], [4, 6], [5, 7]]
    # epoch e takes column e mod K: every person once per epoch, every crop once in K epochs
    seen = np.concatenate([views[:, e % 2] for e in range(2)])
    assert sorted(seen.tolist()) == list(range(8))


def test_uneven_view_counts_are_refused():
    with pytest.raises(FasrnetError, match="views per person"):
        person_views(_arrays([(0, 0, 0), (0, 0, 0), (0, 0, 1)]))
