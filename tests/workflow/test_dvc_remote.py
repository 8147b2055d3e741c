"""Results travel between clones as the README's "Beyond one machine" says: through a DVC remote (`dvc push`, then
in a fresh clone `dvc pull` and a `dvc repro` that runs nothing), as experiments (`dvc exp push`/`pull`), and
through one cache directory shared by two clones (`dvc cache dir`, `cache.shared group`, symlinks into the cache),
where a stage one clone ran is restored in the other from DVC's run cache, and no write corrupts a cached object.

All on the session's tiny project (tests/workflow/conftest.py: clone A, run with `dvc repro` and pushed)."""

from __future__ import annotations

import hashlib
import re
import stat
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))
from tiny_project import lock_outs, metrics_of, run  # noqa: E402

MAIN_CHAIN = {"train_main@main_syn17", "predict_main@main_syn17", "evaluate_main@main_syn17", "tables"}


def _ran(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


def _restored(output: str) -> set[str]:
    """Stages DVC took from its run cache instead of running them."""
    return set(re.findall(r"Stage '([^']+)' is cached - skipping run", output))


def _up_to_date(root: Path) -> bool:
    return "Data and pipelines are up to date." in run(["dvc", "status"], root)


def _set_alpha(root: Path, alpha: float) -> None:
    """What `dvc exp run -S loss.alpha=…` writes into params.yaml before it runs."""
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["loss"]["alpha"] = alpha
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def test_a_fresh_clone_pulls_every_output_and_reruns_nothing(shared_project, tmp_path):
    clone = shared_project.clone(tmp_path / "b")
    assert not (clone / "results").exists()  # results travel by DVC, not by git
    out = run(["dvc", "pull"], clone)
    assert "fetched" in out or "added" in out, out
    assert _up_to_date(clone)  # every out is there, with the hash dvc.lock records
    assert _ran(run(["dvc", "repro"], clone)) == set()
    assert metrics_of(clone) == shared_project.metrics and lock_outs(clone) == shared_project.outs


def test_an_experiment_travels_by_exp_push_and_pull(shared_project, tmp_path):
    a = shared_project.root
    out = run(["dvc", "exp", "run", "-n", "alpha-03", "-S", "loss.alpha=0.3"], a)
    assert _ran(out) == MAIN_CHAIN
    run(["dvc", "exp", "push", "origin", "alpha-03"], a)
    experiment = metrics_of(a), lock_outs(a)
    assert experiment[1]["models/main_syn17"] != shared_project.outs["models/main_syn17"]

    clone = shared_project.clone(tmp_path / "b")
    run(["dvc", "exp", "pull", "origin", "alpha-03"], clone)
    show = run(["dvc", "exp", "show", "--no-pager", "--csv"], clone)
    row = next(line for line in show.splitlines() if line.startswith("alpha-03,"))
    assert "0.3" in row.split(",")
    run(["dvc", "exp", "apply", "alpha-03"], clone)
    assert yaml.safe_load((clone / "params.yaml").read_text())["loss"]["alpha"] == 0.3
    assert _up_to_date(clone)
    assert (metrics_of(clone), lock_outs(clone)) == experiment


def _configure_shared_cache(clone: Path, cache: Path) -> None:
    run(["dvc", "cache", "dir", "--local", str(cache)], clone)
    run(["dvc", "config", "--local", "cache.shared", "group"], clone)
    run(["dvc", "config", "--local", "cache.type", "symlink"], clone)


def _cached_objects(cache: Path) -> list[Path]:
    return [p for p in (cache / "files" / "md5").rglob("*") if p.is_file()]


def test_two_clones_sharing_one_cache_restore_each_others_stages(shared_project, tmp_path):
    cache = tmp_path / "shared-cache"
    c, d = shared_project.clone(tmp_path / "c"), shared_project.clone(tmp_path / "d")
    for clone in (c, d):
        _configure_shared_cache(clone, cache)

    run(["dvc", "pull"], c)  # fills the shared cache
    run(["dvc", "checkout"], d)  # D needs no remote: C's pull is in the cache they share
    assert _up_to_date(d)
    assert (d / "results" / "tables.md").is_symlink()

    _set_alpha(c, 0.5)
    assert _ran(run(["dvc", "repro"], c)) == MAIN_CHAIN
    _set_alpha(d, 0.5)
    out = run(["dvc", "repro"], d)
    assert _ran(out) == set() and _restored(out) == MAIN_CHAIN, out[-3000:]
    assert _up_to_date(d)
    assert metrics_of(d) == metrics_of(c) and lock_outs(d) == lock_outs(c)
    assert lock_outs(d)["models/main_syn17"] != shared_project.outs["models/main_syn17"]

    objects = _cached_objects(cache)
    assert len(objects) > 20
    for path in objects:  # every object still holds what its name (its MD5) says
        name = path.parent.name + path.name.removesuffix(".dir")
        assert hashlib.md5(path.read_bytes()).hexdigest() == name, f"corrupted cache object {path}"
        mode = path.stat().st_mode
        assert not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH), f"{path} is writable"
        assert mode & stat.S_IRGRP, f"{path} is not group-readable (cache.shared group)"
    assert all(p.stat().st_mode & stat.S_IWGRP for p in (cache / "files" / "md5").iterdir())
