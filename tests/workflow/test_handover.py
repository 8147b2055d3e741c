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
