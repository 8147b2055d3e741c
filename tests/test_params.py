"""params.yaml schema: defaults, the shipped file, error messages, CLI exit codes."""

from pathlib import Path

import pytest
import yaml

from fasrnet.cli import main
from fasrnet.params import Params, ParamsError, load_params, validate_params

REPO = Path(__file__).resolve().parents[1]


def test_shipped_params_file_is_valid_and_block_style():
    text = (REPO / "params.yaml").read_text()
    params = load_params(REPO / "params.yaml")
    assert params.loss.alpha == 0.4
    # Block style: no flow collections, so `dvc exp run -S` rewrites stay readable.
    assert "[" not in "".join(line.split("#")[0] for line in text.splitlines())
    assert "{" not in "".join(line.split("#")[0] for line in text.splitlines())


def test_shipped_params_file_equals_schema_defaults():
    # The embedded default is the file; the class defaults must not drift from it.
    assert load_params(REPO / "params.yaml") == Params()


def _keys(tree: dict, prefix: str = "") -> set[str]:
    """Dotted leaf keys; a run (``runs.<group>.<name>``) is one leaf, its keys are its own."""
    out = set()
    for key, value in tree.items():
        dotted = prefix + key
        out |= _keys(value, dotted + ".") if isinstance(value, dict) and prefix != "runs." else {dotted}
    return out


@pytest.mark.parametrize("name", ["params.yaml", "params-paper.yaml"])
def test_shipped_params_files_list_every_key_of_the_schema(name):
    # DVC reads a stage's params from the file, not from the schema's defaults: a key left out would take its
    # default silently, and a changed default would rerun nothing (docs/workflow.md, "What reruns a stage")
    listed = _keys(yaml.safe_load((REPO / name).read_text()))
    assert _keys(Params().model_dump(mode="json")) - listed == set()


def test_unknown_key_names_closest_valid_key():
    with pytest.raises(ParamsError, match=r"unknown key loss\.alpah; did you mean loss\.alpha\?"):
        validate_params({"loss": {"alpah": 0.3}})


def test_unknown_section_names_closest_section():
    with pytest.raises(ParamsError, match=r"unknown key los; did you mean loss\?"):
        validate_params({"los": {"alpha": 0.3}})


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1.7, "less than or equal to 1"), (-0.1, "greater than or equal to 0"), ("0.3", "a valid number")],
)
def test_bad_alpha_names_key_value_and_expectation(value, expected):
    with pytest.raises(ParamsError) as info:
        validate_params({"loss": {"alpha": value}})
    message = str(info.value)
    assert "loss.alpha" in message and repr(value) in message and expected in message


def test_every_problem_is_reported_with_the_file_name(tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text("loss:\n  alpha: 1.7\n  beta: 1\n")
    with pytest.raises(ParamsError) as info:
        load_params(bad)
    lines = str(info.value).splitlines()
    assert len(lines) == 2 and all(line.startswith(str(bad)) for line in lines)


def test_invalid_yaml_names_file_and_line(tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text("loss:\n  alpha: [0.3\n")
    with pytest.raises(ParamsError, match=r"p\.yaml: not valid YAML \(line \d+"):
        load_params(bad)


def test_missing_explicit_params_file_is_an_error(tmp_path):
    with pytest.raises(ParamsError, match="params file not found"):
        load_params(tmp_path / "nope.yaml")


def test_overrides_apply_like_dvc_set(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text(yaml.safe_dump({"loss": {"alpha": 0.4}}))
    assert load_params(f, ["loss.alpha=0.3"]).loss.alpha == 0.3
    with pytest.raises(ParamsError, match="expected KEY=VALUE"):
        load_params(f, ["loss.alpha"])


def test_cli_params_check_exit_codes(tmp_path, capsys):
    good = tmp_path / "good.yaml"
    good.write_text("loss:\n  alpha: 0.3\n")
    assert main(["--params", str(good), "params", "check"]) == 0
    assert "OK" in capsys.readouterr().out

    typo = tmp_path / "typo.yaml"
    typo.write_text("loss:\n  alpah: 0.3\n")
    assert main(["--params", str(typo), "params", "check"]) == 2
    assert "did you mean loss.alpha" in capsys.readouterr().err

    out_of_range = tmp_path / "range.yaml"
    out_of_range.write_text("loss:\n  alpha: 1.7\n")
    assert main(["--params", str(out_of_range), "params", "check"]) == 2
    err = capsys.readouterr().err
    assert "loss.alpha" in err and "1.7" in err


@pytest.mark.parametrize(("text", "message"), [
    ("loss:\n  alpha: 0.3\ntrain:\n  epochs: 2\n  lr: 0.001\n  epochs: 3\n", "key train.epochs is written twice "
     "(lines 4 and 6)"),
    ("loss:\n  alpha: 0.3\nloss:\n  alpha: 0.2\n", "key loss is written twice (lines 1 and 3)"),
    ("runs:\n  main:\n    r1: {dataset: syn17, dataset: syn18}\n", "key runs.main.r1.dataset is written twice "
     "(lines 3 and 3)"),
])
def test_a_key_written_twice_is_an_error_naming_it_and_both_lines(tmp_path, capsys, text, message):
    # PyYAML alone keeps the last value silently; DVC's own parser refuses the same file
    f = tmp_path / "p.yaml"
    f.write_text(text)
    assert main(["--params", str(f), "params", "check"]) == 2
    assert capsys.readouterr().err == (f"error: {f}: {message}; keep one (DVC refuses a file with a repeated key)\n")


def test_yaml_merge_keys_may_still_override(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("loss: &l\n  alpha: 0.3\nsynthesize:\n  labels:\n    min_joints: 3\n")
    assert load_params(f).loss.alpha == 0.3
    f.write_text("loss:\n  <<: {alpha: 0.3}\n  alpha: 0.2\n")
    assert load_params(f).loss.alpha == 0.2


def test_many_unknown_keys_are_one_line_with_their_dotted_paths(tmp_path, capsys):
    f = tmp_path / "p.yaml"
    f.write_text("loss:\n  alpah: 0.3\n  beta: 1\ntrain:\n  epoch: 2\n  lrr: 1\n  q1: 1\n  q2: 2\n  q3: 3\n"
                 "fooo: 1\n")
    assert main(["--params", str(f), "params", "check"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {f}: 8 unknown keys: loss.alpah (did you mean "
                                                   "loss.alpha?), loss.beta")
    for key in ("loss.beta", "train.epoch (did you mean train.epochs?)", "train.lrr", "train.q1", "train.q2",
                "train.q3", "fooo"):
        assert key in err


def test_a_non_ascii_run_name_is_refused_naming_the_exact_alphabet(tmp_path, capsys):
    f = tmp_path / "p.yaml"
    f.write_text("runs:\n  main:\n    läuft:\n      dataset: syn17\n", encoding="utf-8")
    assert main(["--params", str(f), "params", "check"]) == 2
    assert capsys.readouterr().err == (f"error: {f}: runs.main: run name 'läuft': expected ASCII letters A-Z a-z, "
                                       "digits 0-9, '_' and '-', not starting with '-'\n")


def _one_run(name):
    return {"runs": {"main": {name: {"dataset": "syn17"}}, "ablation": {}, "alpha": {}, "seed": {}}}


@pytest.mark.parametrize("name", ["main_syn17", "alpha_04", "Run-2", "_x", "9"])
def test_safe_run_names_are_accepted(name):
    assert list(validate_params(_one_run(name)).runs) == [name]


@pytest.mark.parametrize("name", ["x`touch pwned`", "a b", "x;y", "$x", "-x", "x'y", 'x"y', "a\nb", "", "a.b",
                                  "a@b", "a/b", "ä"])
def test_run_names_outside_the_safe_alphabet_are_refused(name):
    with pytest.raises(ParamsError) as info:
        validate_params(_one_run(name))
    assert str(info.value) == (f"params.yaml: runs.main: run name {name!r}: "
                               "expected ASCII letters A-Z a-z, digits 0-9, '_' and '-', not starting with '-'")


@pytest.mark.parametrize("path", ["data/raw", "/mnt/my data/pose-track_2017", "a+b@c=d,e:f~", "./x", "données"])
def test_safe_paths_are_accepted(path):
    params = validate_params({"data": {"root": path}, "download": {"from_dir": path}})
    assert params.data.root == params.download.from_dir == path


@pytest.mark.parametrize("key", ["data.root", "download.cache_dir", "download.weights_dir", "download.from_dir",
                                 "backbone.checkpoint"])
@pytest.mark.parametrize("path", ["x`touch pwned`", "$HOME/x", "a;b", "-rf", " x", "a\nb", "x'y", "a|b", "a*"])
def test_paths_outside_the_safe_alphabet_are_refused(key, path):
    section, field = key.split(".")
    with pytest.raises(ParamsError) as info:
        validate_params({section: {field: path}})
    assert str(info.value) == (f"params.yaml: {key}: path {path!r}: expected letters, digits, space and "
                               "._-/+@=,:~, not starting with '-' or a space")


@pytest.mark.parametrize("key", ["data.root", "download.cache_dir", "download.weights_dir", "backbone.checkpoint"])
def test_required_paths_are_not_empty(key):
    section, field = key.split(".")
    with pytest.raises(ParamsError, match=rf"{key}: path '': expected a non-empty path"):
        validate_params({section: {field: ""}})


def test_missing_file_is_an_error_when_required(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ParamsError, match="params.yaml: params file not found"):
        load_params("params.yaml", required=True)
    assert load_params("params.yaml") == Params()
