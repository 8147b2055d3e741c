"""Runs of one resolved configuration train once: the others derive their output from that training, in either
order, and never from a stale one (fasrnet.runs, Trainer._reuse_equivalent)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import write_params

from fasrnet import paths
from fasrnet.cli import main
from fasrnet.params import load_params
from fasrnet.resume import read_fingerprint, work_dir_for
from fasrnet.runs import canonical_runs, resolve_run
from fasrnet.train import Trainer, reuse_key

REPO = Path(__file__).resolve().parents[2]
# main_syn17 (the main setting: fasrnet, alpha 0.4, seed 0), alpha_04 and seed_0 are one configuration.
RUNS = {
    "main": {"main_syn17": {"dataset": "syn17"}},
    "ablation": {},
    "alpha": {"alpha_03": {"dataset": "syn17", "variant": "fasrnet", "alpha": 0.3},
              "alpha_04": {"dataset": "syn17", "variant": "fasrnet", "alpha": 0.4}},
    "seed": {"seed_0": {"dataset": "syn17", "variant": "fasrnet", "alpha": 0.4, "seed": 0}},
}
OUTPUTS = ("head.pt", "checkpoint.pt", "train_log.csv", "run.json", "fingerprint.json")


def _train(params, name, **kw):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread count for every training here: it changes float summation order
    try:
        return Trainer(params, resolve_run(params, name), progress=False, **kw).run()
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def dup_ws(workspace, tmp_path_factory):
    """The tiny workspace's data and caches with runs that coincide; seed_0 trained (its canonical run absent)."""
    root = tmp_path_factory.mktemp("dup")
    (root / "data").mkdir()
    for sub in ("raw", "crops", "features"):
        (root / "data" / sub).symlink_to(workspace / "data" / sub)
    write_params(root, runs=RUNS)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        params = load_params("params.yaml")
        assert canonical_runs(params)["seed_0"] == "main_syn17" and not paths.run_dir("main_syn17").exists()
        assert _train(params, "seed_0")["state"] == "fresh"  # nothing to reuse yet: trained
    return root


def test_canonical_runs_are_computed_from_params():
    default = load_params(REPO / "params.yaml")
    dupes = lambda params: {r: c for r, c in canonical_runs(params).items() if r != c}  # noqa: E731
    assert dupes(default) == {"alpha_04": "main_syn17", "seed_0": "main_syn17"}
    assert dupes(load_params(REPO / "params.yaml", ["loss.alpha=0.2"])) == {"alpha_02": "main_syn17",
                                                                          "seed_0": "alpha_04"}
    # alpha_04 takes train.seed too: with seed 1 it coincides with main_syn17 and seed_1, and seed_0 stands alone
    assert dupes(load_params(REPO / "params.yaml", ["train.seed=1"])) == {"alpha_04": "main_syn17",
                                                                        "seed_1": "main_syn17"}
    assert set(canonical_runs(default)) == set(default.runs)  # every row keeps its own run


def test_reuse_in_either_order_writes_what_training_would(dup_ws, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(dup_ws)
    params = load_params("params.yaml")
    capsys.readouterr()
    with monkeypatch.context() as m:
        m.setattr(Trainer, "_source", lambda self: pytest.fail("trained instead of reusing"))
        # The canonical run after its duplicate: reuses the duplicate's training (symmetric).
        assert main(["train", "--run", "main_syn17"]) == 0
        assert capsys.readouterr().out == ("train main_syn17: reused seed_0's training (same dataset, variant, "
                                           "alpha and seed) for models/main_syn17\n")
        # Another duplicate: the canonical run is the first candidate.
        assert main(["train", "--run", "alpha_04"]) == 0
        assert "reused main_syn17's training" in capsys.readouterr().out
        assert main(["train", "--run", "alpha_04"]) == 0
        assert capsys.readouterr().out == "train alpha_04: models/alpha_04 is up to date\n"
    assert _train(params, "main_syn17")["state"] == "current"  # its own fingerprint: up to date as trained
    assert not work_dir_for(paths.run_dir("alpha_04")).exists()

    seed_0, alpha_04 = paths.run_dir("seed_0"), paths.run_dir("alpha_04")
    head = torch.load(alpha_04 / "head.pt", weights_only=True)
    ref = torch.load(seed_0 / "head.pt", weights_only=True)["model"]
    assert head["model"].keys() == ref.keys() and all(torch.equal(head["model"][k], ref[k]) for k in ref)
    assert head["run"]["name"] == head["config"]["run"]["name"] == "alpha_04"
    assert json.loads((alpha_04 / "run.json").read_text())["name"] == "alpha_04"
    assert (alpha_04 / "train_log.csv").read_bytes() == (seed_0 / "train_log.csv").read_bytes()
    # The bytes alpha_04's own training writes (--out elsewhere never reuses): weights, history, name, fingerprint.
    assert _train(params, "alpha_04", out_dir=tmp_path / "alpha_04")["state"] == "fresh"
    for name in OUTPUTS:
        assert (alpha_04 / name).read_bytes() == (tmp_path / "alpha_04" / name).read_bytes(), name


def _fingerprint(params, name):
    trainer = Trainer(params, resolve_run(params, name), progress=False)
    return trainer._unit(trainer._config()).fingerprint


def test_reuse_key_drops_only_what_names_the_run(dup_ws, monkeypatch):
    monkeypatch.chdir(dup_ws)
    params = load_params("params.yaml")
    trained = read_fingerprint(paths.run_dir("seed_0"))
    main_fp = _fingerprint(params, "main_syn17")
    assert main_fp != trained and reuse_key(main_fp) == reuse_key(trained) is not None
    # A shared key outside the run's configuration (the val mAP it logs), another alpha, another code version.
    assert reuse_key(_fingerprint(load_params("params.yaml", ["train.val_every=1"]), "alpha_04")) != reuse_key(trained)
    assert reuse_key(_fingerprint(load_params("params.yaml", ["loss.alpha=0.3"]), "main_syn17")) != reuse_key(trained)
    assert reuse_key({**trained, "code": "0" * 64}) != reuse_key(trained)
    assert reuse_key(None) is None and reuse_key({"params": {}}) is None


def test_stale_equivalent_output_is_not_reused(dup_ws, monkeypatch, capsys):
    monkeypatch.chdir(dup_ws)
    capsys.readouterr()
    # seed_0 (and main_syn17, alpha_04 when the test above ran) trained 3 epochs: stale for a 1-epoch alpha_04.
    assert main(["-S", "train.epochs=1", "train", "--run", "alpha_04"]) == 0
    out = capsys.readouterr().out
    assert "reused" not in out and out.splitlines()[-1].startswith("train alpha_04: 1 epochs, final loss "), out
    run_json = json.loads((paths.run_dir("alpha_04") / "run.json").read_text())
    assert run_json["name"] == "alpha_04" and run_json["epochs"] == 1
    assert len((paths.run_dir("alpha_04") / "train_log.csv").read_text().splitlines()) == 2


def test_unreadable_equivalent_output_is_reported_and_the_run_trains(dup_ws, tmp_path, monkeypatch, capsys):
    import shutil

    (tmp_path / "data").symlink_to(dup_ws / "data")
    shutil.copy(dup_ws / "params.yaml", tmp_path / "params.yaml")
    shutil.copytree(dup_ws / "models" / "seed_0", tmp_path / "models" / "seed_0")
    (tmp_path / "models" / "seed_0" / "head.pt").write_bytes(b"not a checkpoint")  # its fingerprint still matches
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    result = _train(load_params("params.yaml"), "main_syn17")
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("warning: not reusing seed_0's training: models/seed_0/head.pt: "), err
    assert result["state"] == "fresh" and (tmp_path / "models" / "main_syn17" / "head.pt").is_file()


# Under torchrun rank 0 decides and writes, and tells the other ranks; a DDP training (world_size in its
# configuration) is reused only by a run of the same world size.
DDP_SCRIPT = """
import torch.distributed as dist
from fasrnet.params import load_params
from fasrnet.runs import resolve_run
from fasrnet.train import Trainer
params = load_params("params.yaml", ["train.epochs=1"])
dist.init_process_group("gloo")
first = Trainer(params, resolve_run(params, "alpha_04"), progress=False).run()
second = Trainer(params, resolve_run(params, "seed_0"), progress=False).run()
print(f"rank {dist.get_rank()}: {first['state']} {second['state']} {second.get('reused')}", flush=True)
dist.destroy_process_group()
"""


def test_two_process_run_reuses_a_two_process_training(workspace, tmp_path):
    (tmp_path / "data").mkdir()
    for sub in ("raw", "crops", "features"):
        (tmp_path / "data" / sub).symlink_to(workspace / "data" / sub)
    write_params(tmp_path, runs=RUNS)
    (tmp_path / "ddp.py").write_text(DDP_SCRIPT)
    env = {k: v for k, v in os.environ.items()
           if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    env.update(FASRNET_THREADS="1", OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "ddp.py"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout
    # alpha_04 trained (its canonical main_syn17 absent), seed_0 reused it on both ranks
    assert "rank 0: fresh reused alpha_04" in proc.stdout and proc.stdout.count(" reused alpha_04") == 2, proc.stdout
    models = tmp_path / "models"
    trained, reused = (torch.load(models / r / "head.pt", weights_only=True) for r in ("alpha_04", "seed_0"))
    assert all(torch.equal(reused["model"][k], v) for k, v in trained["model"].items())
    run_json = json.loads((models / "seed_0" / "run.json").read_text())
    assert run_json["name"] == "seed_0" and run_json["world_size"] == 2
    assert not (models / "main_syn17").exists()


def test_a_duplicate_started_beside_its_training_waits_then_reuses(dup_ws, monkeypatch, capsys):
    # What orders a duplicate after its canonical run under Snakemake: a lock per configuration, not a DAG edge.
    import shutil
    import threading
    import time

    monkeypatch.chdir(dup_ws)
    params = load_params("params.yaml")
    shutil.rmtree(paths.run_dir("alpha_04"), ignore_errors=True)
    holder = Trainer(params, resolve_run(params, "main_syn17"), progress=False)  # the same configuration
    result = {}
    with monkeypatch.context() as m:
        m.setattr(Trainer, "_source", lambda self: pytest.fail("trained instead of waiting and reusing"))
        with holder._configuration_lock(holder._unit(holder._config())):
            worker = threading.Thread(target=lambda: result.setdefault("rc", main(["train", "--run", "alpha_04"])))
            worker.start()
            time.sleep(1.5)
            assert worker.is_alive() and not paths.run_dir("alpha_04").exists()  # waiting, not training
        worker.join(timeout=60)
    assert result == {"rc": 0}
    out = capsys.readouterr().out
    assert "train alpha_04: waiting for another run of the same configuration" in out
    assert "reused" in out and paths.run_dir("alpha_04").is_dir()


def test_a_changed_output_is_neither_up_to_date_nor_reused_and_is_rebuilt_to_its_bytes(dup_ws, tmp_path, monkeypatch,
                                                                                       capsys):
    import shutil

    (tmp_path / "data").symlink_to(dup_ws / "data")
    shutil.copy(dup_ws / "params.yaml", tmp_path / "params.yaml")
    seed_0 = tmp_path / "models" / "seed_0"
    shutil.copytree(dup_ws / "models" / "seed_0", seed_0)  # a copy, as `dvc checkout` restores one: still current
    monkeypatch.chdir(tmp_path)
    params = load_params("params.yaml")
    assert _train(params, "seed_0")["state"] == "current"
    original = {name: (seed_0 / name).read_bytes() for name in (*OUTPUTS, "manifest.json")}
    log = seed_0 / "train_log.csv"
    log.write_text(log.read_text().replace("1,", "7,", 1))  # same size, other bytes: readable, but not what trained
    capsys.readouterr()
    assert _train(params, "main_syn17")["state"] == "fresh"  # trains rather than copy the changed one
    assert "warning: not reusing seed_0's training: models/seed_0: changed since it was written (train_log.csv " \
           "has other bytes" in capsys.readouterr().err
    result = _train(params, "seed_0")
    assert result["state"] == "reused" and result["reused"] == "main_syn17"  # not up to date: rebuilt
    assert {name: (seed_0 / name).read_bytes() for name in original} == original
    assert _train(params, "seed_0")["state"] == "current"
