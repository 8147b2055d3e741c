"""The epoch loop's state file is data (docs/resume.md, "Checkpoints are data"): it loads with
``weights_only=True``, a run stopped and resumed from it ends with the same bytes as an uninterrupted one (the
Python, NumPy and torch RNGs restored exactly), and an old state file holding pickled objects (NumPy's RNG state as
an array) or a planted payload is refused in one ``warning:`` line and the run starts over, the payload never run."""

from __future__ import annotations

import os
import random
import shlex

import numpy as np
import pytest
import torch

from fasrnet.epochs import EpochLoop
from fasrnet.runtime import rng_state, seed_everything, set_rng_state

EPOCHS = 3


class Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(str(self.marker))}",)


def _parts():
    model = torch.nn.Linear(3, 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[2], gamma=0.1)
    return model, optimizer, scheduler


def _train(state_path, stop_after_epoch=None, resume=True, scramble=False):
    """A few epochs whose steps draw from all three global RNGs (as augmentation does)."""
    seed_everything(7)
    model, optimizer, scheduler = _parts()
    loop = EpochLoop("t", EPOCHS, 7, {"lr": 0.1, "name": "t"}, state_path, progress=False)
    start, history = loop.resume(model, optimizer, scheduler) if resume else (0, [])
    if scramble:  # a resumed process's RNGs must come from the state file, not from the seeding above
        seed_everything(99)
        start, history = loop.resume(model, optimizer, scheduler)

    def train_epoch(epoch, order):
        total = 0.0
        for i in order:
            x = torch.randn(4, 3) + float(np.random.rand()) + random.gauss(0.0, 1.0) + np.random.randn() + i
            loss = model(x).pow(2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item()
        scheduler.step()
        return {"loss": total}, ""

    history, stopped = loop.run(model, optimizer, scheduler, 5, train_epoch, start, history, stop_after_epoch)
    return model, history, stopped


def test_state_file_is_data_and_a_stopped_run_resumes_to_the_same_bytes(tmp_path):
    full, full_history, _ = _train(tmp_path / "full.pt")
    _, _, stopped = _train(tmp_path / "split.pt", stop_after_epoch=1)
    assert stopped == 1
    state = torch.load(tmp_path / "split.pt", weights_only=True)  # the safe loader reads all of it
    assert state["epoch"] == 1 and set(state["rng"]) >= {"python", "numpy", "torch"}
    resumed, history, _ = _train(tmp_path / "split.pt", scramble=True)
    assert history == full_history
    assert all(torch.equal(a, b) for a, b in zip(full.state_dict().values(), resumed.state_dict().values()))
    assert (tmp_path / "full.pt").read_bytes() == (tmp_path / "split.pt").read_bytes()


def test_rng_state_round_trips_through_a_safe_load_exactly(tmp_path):
    seed_everything(3)
    np.random.randn()  # numpy now caches the second Gaussian of the pair
    random.gauss(0.0, 1.0)  # and Python its gauss_next
    state = rng_state()
    assert state["numpy"][2] == 1 and state["python"][2] is not None
    torch.save(state, tmp_path / "rng.pt")
    want = (random.random(), random.gauss(0.0, 1.0), np.random.randn(), np.random.rand(), torch.rand(1).item())
    seed_everything(4)
    set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True))
    assert (random.random(), random.gauss(0.0, 1.0), np.random.randn(), np.random.rand(), torch.rand(1).item()) == want


@pytest.mark.parametrize("kind", ["old numpy RNG state", "payload"])
def test_a_pickled_state_file_is_refused_in_one_line_and_the_run_starts_over(tmp_path, capsys, kind):
    marker = tmp_path / "pwned"
    path = tmp_path / "checkpoint.pt"
    _, full_history, _ = _train(tmp_path / "full.pt")
    state = torch.load(tmp_path / "full.pt", weights_only=True)
    state["epoch"] = 1  # it would resume at epoch 2 if it were read
    if kind == "payload":
        state["history"] = [Payload(marker)]
    else:  # what the code before this rule wrote: numpy's RNG state as a tuple holding an array
        state["rng"]["numpy"] = np.random.get_state()
    torch.save(state, path)
    capsys.readouterr()
    _, history, _ = _train(path)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"warning: {path}: refused: the file holds pickled Python objects ")
    assert err[0].endswith("; starting over"), err
    assert history == full_history  # all epochs run again, with the same result
    assert not marker.exists()
