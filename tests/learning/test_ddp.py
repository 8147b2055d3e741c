"""DDP training under torchrun: 2 processes (gloo, CPU) write one checkpoint, follow the loss curve of 1 process
and resume to the same weights; the per-rank batches of an epoch are disjoint slices of the single-process
batches."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from fasrnet.errors import FasrnetError
from fasrnet.params import load_params
from fasrnet.train import DistEnv, Trainer, epoch_batches, resolve_run

# 2 ranks of batch 4 make the same global batches of 8 as 1 process, and DDP averages the two halves' gradients,
# which is the gradient of the global batch's mean loss. What differs: BatchNorm statistics per half-batch, the
# item the 2-rank run repeats to pad an odd epoch, and float summation order. On the tiny workspace that moves an
# epoch's mean loss by at most 5% (measured: 4.8%, 0.8%, 1.4% over the 3 epochs, loss ~6e-3 → ~3e-3); 15% leaves
# a 3x margin for other CPUs' float rounding while the curves themselves halve over the run.
LOSS_RTOL = 0.15


def _log(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_epoch_batches_split_every_global_batch_between_ranks():
    perm = np.random.default_rng(0).permutation(23)
    single = epoch_batches(perm, 8)
    assert [len(b) for b in single] == [8, 8, 7]
    assert np.array_equal(np.concatenate(single), perm)
    ranks = [epoch_batches(perm, 8, rank, 2) for rank in range(2)]
    assert len(ranks[0]) == len(ranks[1]) == len(single)  # every rank runs the same number of steps
    for step, (a, b) in enumerate(zip(*ranks)):
        assert len(a) == len(b) == 4
        assert np.array_equal(np.concatenate([a, b])[:len(single[step])], single[step])
    assert np.array_equal(ranks[1][-1][-1:], perm[:1])  # the odd epoch is padded with the permutation's start
    assert set(np.concatenate([np.concatenate(r) for r in ranks])) == set(range(23))
    assert [len(b) for b in epoch_batches(perm[:3], 8, 3, 4)] == [1]  # fewer items than ranks: still one step
    with pytest.raises(FasrnetError, match="divisible"):
        epoch_batches(perm, 6, 0, 4)


def test_dist_env_reads_torchrun_variables():
    assert DistEnv.from_env({}) == DistEnv(1, 0, 0) and not DistEnv.from_env({"WORLD_SIZE": "1"}).distributed
    env = DistEnv.from_env({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1"})
    assert env.distributed and not env.is_main and (env.world_size, env.rank, env.local_rank) == (4, 3, 1)
    with pytest.raises(FasrnetError):
        DistEnv.from_env({"WORLD_SIZE": "2", "RANK": "2"})


STOP_AFTER_FIRST_EPOCH = """
import sys
from fasrnet.params import load_params
from fasrnet.train import Trainer, resolve_run
params = load_params("params.yaml")
Trainer(params, resolve_run(params, "main_syn17"), out_dir=sys.argv[1], progress=False).run(stop_after_epoch=1)
"""


def _torchrun(*args, cwd):
    env = {k: v for k, v in os.environ.items()
           if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    env.update(FASRNET_THREADS="1", OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout
    return proc.stdout


def _weights(path):
    return torch.load(path, map_location="cpu", weights_only=False)["model"]


def test_two_process_ddp_run_writes_one_checkpoint_and_follows_one_process(in_workspace, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    # "--" ends torchrun's options: its parser would take `--run` for an abbreviation of its `--run-path`.
    out = _torchrun("-m", "--", "fasrnet", "train", "--run", "main_syn17", "--out", str(two), cwd=in_workspace)

    params = load_params("params.yaml")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        Trainer(params, resolve_run(params, "main_syn17"), out_dir=one, progress=False).run()
    finally:
        torch.set_num_threads(threads)

    # One set of outputs, and only rank 0 printed and reported.
    assert sorted(p.name for p in two.iterdir()) == ["checkpoint.pt", "head.pt", "run.json", "train_log.csv"]
    epochs = params.train.epochs
    for e in range(1, epochs + 1):
        assert out.count(f"main_syn17: epoch {e}/{epochs} ") == 1, out
    assert out.count("train main_syn17: ") == 1, out
    assert json.loads((two / "run.json").read_text())["world_size"] == 2
    ckpt = torch.load(two / "checkpoint.pt", weights_only=False)
    assert ckpt["epoch"] == epochs and ckpt["config"]["world_size"] == 2
    assert all(torch.isfinite(v).all() for v in torch.load(two / "head.pt", weights_only=False)["model"].values())

    log1, log2 = _log(one / "train_log.csv"), _log(two / "train_log.csv")
    assert len(log1) == len(log2) == epochs
    loss1 = np.array([float(r["loss"]) for r in log1])
    loss2 = np.array([float(r["loss"]) for r in log2])
    assert loss1[-1] < loss1[0] and loss2[-1] < loss2[0], (loss1, loss2)
    np.testing.assert_allclose(loss2, loss1, rtol=LOSS_RTOL)
    assert [r["lr"] for r in log2] == [r["lr"] for r in log1]
    assert log2[-1]["val_map"] != ""  # rank 0 validated on the last epoch

    # Resume: a 2-process run stopped after epoch 1 and restarted ends with the uninterrupted run's weights.
    script = tmp_path / "stop_after_first_epoch.py"
    script.write_text(STOP_AFTER_FIRST_EPOCH)
    _torchrun(str(script), str(tmp_path / "resumed"), cwd=in_workspace)
    assert torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=False)["epoch"] == 1
    assert not (tmp_path / "resumed" / "head.pt").exists()
    _torchrun("-m", "--", "fasrnet", "train", "--run", "main_syn17", "--out", str(tmp_path / "resumed"),
              cwd=in_workspace)
    reference, resumed = _weights(two / "head.pt"), _weights(tmp_path / "resumed" / "head.pt")
    assert all(torch.equal(resumed[k], reference[k]) for k in reference)

    # One process does not resume a 2-process checkpoint (another configuration): it starts over and ends with
    # exactly the single-process weights.
    (tmp_path / "mixed").mkdir()
    (tmp_path / "mixed" / "checkpoint.pt").write_bytes((two / "checkpoint.pt").read_bytes())
    torch.set_num_threads(1)
    try:
        result = Trainer(params, resolve_run(params, "main_syn17"), out_dir=tmp_path / "mixed", progress=False).run()
    finally:
        torch.set_num_threads(threads)
    assert [h["epoch"] for h in result["history"]] == list(range(1, epochs + 1))
    single, mixed = _weights(one / "head.pt"), _weights(tmp_path / "mixed" / "head.pt")
    assert all(torch.equal(mixed[k], single[k]) for k in single)
