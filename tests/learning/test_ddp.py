"""DDP training on CPU (gloo): every rank takes its slice of the same global batches; the gradient DDP applies is
the gradient of the global batch's mean loss; a 2-process torchrun run writes one set of outputs and resumes to
bit-identical weights."""

import csv
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from fasrnet.errors import FasrnetError
from fasrnet.models.fasrnet import NUM_JOINTS, build_head
from fasrnet.models.loss import fasrnet_loss
from fasrnet.params import Params, load_params
from fasrnet.resume import work_dir_for
from fasrnet.runs import RunConfig, resolve_run
from fasrnet.train import DistEnv, Trainer, epoch_batches


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


# The gradient check runs the head the trainer builds (the embedded default: FaSRnet, with the SRM's BatchNorm)
# at the tiny workspace's size on one generated global batch, split between the ranks as the trainer splits it.
DEFAULT = Params.model_validate({})
CHANNELS, SIZE, GLOBAL_BATCH, WORLD = 8, 16, 8, 2
FP32_UNIT_ROUNDOFF = 2.0 ** -24


def _global_batch():
    g = torch.Generator().manual_seed(1)
    feat = torch.randn(GLOBAL_BATCH, 3, CHANNELS, SIZE, SIZE, generator=g)
    heatmaps = torch.rand(GLOBAL_BATCH, 3, NUM_JOINTS, SIZE, SIZE, generator=g)
    target = torch.rand(GLOBAL_BATCH, NUM_JOINTS, SIZE, SIZE, generator=g)
    weight = (torch.rand(GLOBAL_BATCH, NUM_JOINTS, generator=g) > 0.2).float()
    return feat, heatmaps, target, weight


def _rank_items(rank):
    return epoch_batches(np.arange(GLOBAL_BATCH), GLOBAL_BATCH, rank, WORLD)[0]


def _head():
    torch.manual_seed(0)  # as the trainer seeds before building: every rank starts from the same weights
    run = RunConfig("grad", "syn17", DEFAULT.model.variant, DEFAULT.loss.alpha, 0)
    return build_head(DEFAULT.model, CHANNELS, run.variant)


def _gradients(model, head, items, batchnorm):
    """The parameter gradients of the mean loss over ``items`` of the global batch; ``batchnorm`` "train" uses
    the batch's statistics (as the trainer), "eval" the running ones (every item then independent of the rest)."""
    head.train()
    if batchnorm == "eval":
        for m in head.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.eval()
    feat, heatmaps, target, weight = (x[items] for x in _global_batch())
    head.zero_grad(set_to_none=True)
    out = model(feat[:, 0], feat[:, 1], feat[:, 2], heatmaps[:, 0], heatmaps[:, 1], heatmaps[:, 2])
    fasrnet_loss(out, target, weight, DEFAULT.loss.alpha).backward()
    return {name: p.grad.clone() for name, p in head.named_parameters()}


def _ddp_gradients(rank, init_file, out_dir):
    """One rank: the trainer's DDP wrapping of the head, one step's backward on this rank's half."""
    torch.set_num_threads(1)  # the same kernels as the single-process reference below
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD)
    try:
        head = _head()
        model = DistributedDataParallel(head)
        # "eval" first: a train-mode forward moves the running statistics the eval pass reads.
        grads = {mode: _gradients(model, head, _rank_items(rank), mode) for mode in ("eval", "train")}
        torch.save(grads, f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_ddp_gradient_is_the_mean_of_the_ranks_and_the_global_batch_gradient(tmp_path):
    # Forked ranks start with this process's imports (spawned ones would pay torch's and torchvision's again); a file
    # rendezvous leaves no port to collide with a parallel test.
    torch.multiprocessing.start_processes(_ddp_gradients, args=(str(tmp_path / "rendezvous"), str(tmp_path)),
                                          nprocs=WORLD, start_method="fork")
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(WORLD)]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        halves = {}
        for mode in ("eval", "train"):
            halves[mode] = []
            for rank in range(WORLD):
                head = _head()
                halves[mode].append(_gradients(head, head, _rank_items(rank), mode))
        head = _head()
        whole = _gradients(head, head, np.arange(GLOBAL_BATCH), "eval")
    finally:
        torch.set_num_threads(threads)
    assert set(ranks[0]["train"]) == set(whole) and len(whole) > 100  # every parameter of the full head

    # DDP sums the ranks' gradients and divides by the world size. For 2 ranks that is one IEEE addition
    # (commutative) and a halving (exact), and each rank's local gradient is the one this process computes with the
    # same kernels on the same half: so bit-equal to the mean of the halves' gradients, in either BatchNorm mode
    # (in "train", the trainer's, each half is normalised with its own statistics), and the same on every rank.
    for mode in ("eval", "train"):
        for name, expected in whole.items():
            mean = (halves[mode][0][name] + halves[mode][1][name]) / 2
            assert torch.equal(ranks[0][mode][name], mean), (mode, name)
            assert torch.equal(ranks[1][mode][name], mean), (mode, name)

    # Without batch statistics every item's loss depends on that item alone, so the mean of the two halves' mean
    # losses is the global batch's mean loss, and its gradient is the one-process gradient on the whole batch.
    # They differ only in how the batch reduction groups the same per-item terms: a parameter's gradient sums
    # n = batch x pixels = 8 x 16 x 16 terms, as one sum of n or as two sums of n/2 and one addition. A sum of n
    # fp32 terms is within n*u*sum|terms| of the exact sum in any order (Higham, Accuracy and Stability of
    # Numerical Algorithms, 4.2; u = 2**-24), so the two are within 2*n*u*sum|terms|. The comparison is against
    # the tensor's largest entry, not each entry (cancellation makes single entries arbitrarily small): n*u is the
    # worst case, all roundings one way; they add up like a random walk, ~sqrt(n)*u, which leaves a factor
    # sqrt(n) ~ 45 for sum|terms| to exceed the largest entry. A rank that kept its own half's gradient misses by
    # far more (checked), so the bound separates right from wrong.
    n = GLOBAL_BATCH * SIZE * SIZE
    for name, expected in whole.items():
        bound = 2 * n * FP32_UNIT_ROUNDOFF * expected.abs().max()
        assert (ranks[0]["eval"][name] - expected).abs().max() <= bound, name
        assert (halves["eval"][0][name] - expected).abs().max() > bound, name


# 2 epochs with the LR step between them: the resumed epoch must restore the optimizer and the scheduler too.
SHORT = ["train.epochs=2", "train.lr_steps=[1]"]
# One torchrun launch for the uninterrupted run and the run stopped after epoch 1 (each launch pays three
# processes' torch imports); the resume is a fresh launch through the CLI, as after a kill.
UNINTERRUPTED_AND_STOPPED = f"""
import sys
import torch.distributed as dist
from fasrnet.params import load_params
from fasrnet.runs import resolve_run
from fasrnet.train import Trainer
params = load_params("params.yaml", {SHORT!r})
run = resolve_run(params, "main_syn17")
dist.init_process_group("gloo")  # one group for both runs: a Trainer joins a group it finds and leaves it up
Trainer(params, run, out_dir=sys.argv[1], progress=False).run()
Trainer(params, run, out_dir=sys.argv[2], progress=False).run(stop_after_epoch=1)
dist.destroy_process_group()
"""


def _torchrun(*args, cwd):
    env = {k: v for k, v in os.environ.items()
           if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    env.update(FASRNET_THREADS="1", OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    # --standalone: torchrun picks a free port itself, so parallel tests do not collide.
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout
    return proc.stdout


def _train_cli(out_dir, cwd):
    # "--" ends torchrun's options: its parser would take `--run` for an abbreviation of its `--run-path`.
    overrides = [a for o in SHORT for a in ("-S", o)]
    return _torchrun("-m", "--", "fasrnet", *overrides, "train", "--run", "main_syn17", "--out", str(out_dir),
                     cwd=cwd)


def _weights(path):
    return torch.load(path, map_location="cpu", weights_only=True)["model"]


def test_two_process_run_writes_one_set_of_outputs_and_resumes_to_the_same_weights(in_workspace, tmp_path):
    uninterrupted, resumed = tmp_path / "uninterrupted", tmp_path / "resumed"
    script = tmp_path / "uninterrupted_and_stopped.py"
    script.write_text(UNINTERRUPTED_AND_STOPPED)
    _torchrun(str(script), str(uninterrupted), str(resumed), cwd=in_workspace)
    stopped = work_dir_for(resumed)  # an unfinished run lives beside its output until it completes
    assert torch.load(stopped / "checkpoint.pt", weights_only=True)["epoch"] == 1
    assert not resumed.exists() and not (stopped / "head.pt").exists()
    mixed = tmp_path / "mixed"
    shutil.copytree(stopped, work_dir_for(mixed))  # for the 1-process check at the end
    out = _train_cli(resumed, in_workspace)
    params = load_params("params.yaml", SHORT)
    epochs = params.train.epochs

    # One set of outputs, and only rank 0 printed and reported.
    for run_dir in (uninterrupted, resumed):
        # val_every 2: epoch 2 validated, so the best epoch's head too (written by rank 0 alone)
        assert sorted(p.name for p in run_dir.iterdir()) == ["checkpoint.pt", "fingerprint.json", "head.pt",
                                                             "head_best.pt", "manifest.json", "run.json",
                                                             "train_log.csv"]
        assert json.loads((run_dir / "run.json").read_text())["world_size"] == 2
        ckpt = torch.load(run_dir / "checkpoint.pt", weights_only=True)
        assert ckpt["epoch"] == epochs and ckpt["config"]["world_size"] == 2
    assert out.count(f"main_syn17: epoch {epochs}/{epochs} ") == 1 and "main_syn17: epoch 1/" not in out, out
    assert out.count("train main_syn17: ") == 1, out

    # Resume: the run stopped after epoch 1 and restarted ends with the uninterrupted run's weights and log.
    reference, weights = _weights(uninterrupted / "head.pt"), _weights(resumed / "head.pt")
    assert all(torch.isfinite(v).all() for v in reference.values())
    assert all(torch.equal(weights[k], reference[k]) for k in reference)
    log, log_resumed = _log(uninterrupted / "train_log.csv"), _log(resumed / "train_log.csv")
    assert [int(r["epoch"]) for r in log] == list(range(1, epochs + 1))
    assert log_resumed == log
    # Only a loose sanity bound on the loss: it fell (that the steps are the right ones is the gradient test's).
    assert float(log[-1]["loss"]) < float(log[0]["loss"]), log
    assert float(log[1]["lr"]) == pytest.approx(float(log[0]["lr"]) * params.train.lr_factor)
    assert log[-1]["val_map"] != ""  # rank 0 validated on the last epoch

    # One process does not resume the stopped 2-process work (another configuration): it starts over at epoch 1.
    result = Trainer(params, resolve_run(params, "main_syn17"), out_dir=mixed, progress=False).run(stop_after_epoch=1)
    assert result["stopped_at"] == 1 and [h["epoch"] for h in result["history"]] == [1]
