"""Snakemake's onsuccess hand-over to DVC (fasrnet.workflow.after_snakemake) never fails a run: outside a DVC
project it does nothing; a stale dvc.yaml is one warning naming the fix, and dvc.lock is left as it was.
Both directions on real runs: tests/workflow/test_end_to_end.py."""

import shutil
from pathlib import Path
from types import SimpleNamespace

from fasrnet.workflow import after_snakemake, snakemake_stages

REPO = Path(__file__).resolve().parents[2]


def _workflow(*jobs):
    return SimpleNamespace(dag=SimpleNamespace(jobs=list(jobs)))


def _job(rule, **wildcards):
    return SimpleNamespace(rule=SimpleNamespace(name=rule), wildcards=wildcards)


def test_jobs_map_to_registry_stages_in_pipeline_order():
    from fasrnet.params import load_params

    params = load_params(REPO / "params.yaml")
    jobs = [_job("tables"), _job("train_seed", run="seed_3"), _job("all"), _job("acquire", dataset="syn18")]
    assert snakemake_stages(params, jobs) == ["acquire@syn18", "train_seed@seed_3", "tables"]


def test_outside_a_dvc_project_nothing_is_handed_over(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    after_snakemake(_workflow(_job("tables")))
    assert "dvc" not in capsys.readouterr().err


def test_a_stale_dvc_yaml_is_a_warning_and_dvc_lock_is_untouched(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".dvc").mkdir()
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    (tmp_path / "dvc.lock").write_text("schema: '2.0'\n")
    after_snakemake(_workflow(_job("tables")))
    err = capsys.readouterr().err
    assert "warning: dvc.lock not updated" in err and "differs from the stage registry" in err
    assert "`dvc commit -f` records this run" in err
    assert (tmp_path / "dvc.lock").read_text() == "schema: '2.0'\n"


def test_an_output_changed_since_its_stage_wrote_it_is_not_recorded(tmp_path, capsys):
    """Snakemake cannot see a truncated shard inside a directory output; the hand-over must not hide it from DVC."""
    from fasrnet.params import load_params
    from fasrnet.resume import Unit, work_dir_for
    from fasrnet.workflow import without_changed_outputs

    params = load_params(REPO / "params.yaml")
    for split in ("train", "val"):
        target = tmp_path / "data" / "features" / "syn17" / split
        unit = Unit(target, work_dir_for(target, target.parent), {"split": split})
        unit.open(lambda d: True)
        (unit.work / "shard-00000.feat.npy").write_bytes(b"\x93NUMPY" + bytes(100))
        unit.commit()
    stages = ["crops@syn17", "extract@syn17", "tables"]
    assert without_changed_outputs(params, stages, tmp_path) == stages and not capsys.readouterr().err
    shard = tmp_path / "data" / "features" / "syn17" / "val" / "shard-00000.feat.npy"
    shard.write_bytes(shard.read_bytes()[:50])
    assert without_changed_outputs(params, stages, tmp_path) == ["crops@syn17", "tables"]
    err = capsys.readouterr().err.splitlines()
    assert err == [f"warning: extract@syn17 not recorded in dvc.lock: {shard.parent} changed since it was written "
                   "(shard-00000.feat.npy is 50 bytes, manifest.json says 106); `fasrnet extract --dataset syn17` "
                   "rebuilds it"]
