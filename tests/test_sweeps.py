"""Sweeps: their definitions, grid expansion, run names, flags, skip/resume decisions, the launcher."""

import json
import os
import re
import subprocess
import sys
import textwrap

import pytest

from experiments import grid, launcher, sweeps

from conftest import ROOT


def test_window_ns_dim_expands_in_declared_order():
  points = grid.expand(sweeps.SWEEPS["window_ns_dim"])
  assert len(points) == 27
  assert points[0] == {"window_size": 2, "num_ns": 2, "embedding_dim": 50}
  assert points[1] == {"window_size": 2, "num_ns": 2, "embedding_dim": 100}
  assert points[3] == {"window_size": 2, "num_ns": 5, "embedding_dim": 50}
  assert points[-1] == {"window_size": 10, "num_ns": 15, "embedding_dim": 200}
  assert all(list(p) == ["window_size", "num_ns", "embedding_dim"] for p in points)
  assert len({grid.run_name(p) for p in points}) == 27


def test_registered_sweeps_are_valid_and_documented():
  assert {"window_ns_dim", "preset_compare", "tiny", "family"} <= set(sweeps.SWEEPS)
  for name, sweep in sweeps.SWEEPS.items():
    grid.validate(sweep)
    assert sweep.doc.startswith("./launch.sh sweep " + name), name  # The exact command first.
  assert [p["preset"] for p in grid.expand(sweeps.SWEEPS["preset_compare"])] == [
      "word2vec", "seed"]
  tiny = sweeps.SWEEPS["tiny"]
  assert len(grid.expand(tiny)) == 4
  assert tiny.base["epochs"] == 1 and tiny.base["min_count"] == 1
  assert tiny.required == ("corpus",)


def test_family_expands_to_seed_x_model_x_output_with_linked_flags():
  family = sweeps.SWEEPS["family"]
  points = grid.expand(family)
  assert len(points) == 12
  combos = {(p["model"], p["hs"], p["num_ns"]) for p in points}
  assert combos == {("skipgram", False, 5), ("cbow", False, 5), ("skipgram", True, 0),
                    ("cbow", True, 0)}
  assert sorted(p["seed"] for p in points) == [1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3]
  assert grid.run_name(points[0]) == "seed=1,model=skipgram,hs=false,num_ns=5"
  assert grid.run_name(points[-1]) == "seed=3,model=cbow,hs=true,num_ns=0"
  assert len({grid.run_name(p) for p in points}) == 12
  assert [p["seed"] for p in points[:4]] == [1, 1, 1, 1]  # Seeds outermost.
  args = grid.train_args(family, points[5], [])  # Seed 2, sg-hs.
  assert args == ["--corpus=../shared/data/bench-corpus.txt.gz", "--epochs=5", "--noprogress",
                  "--replicas=1", "--seed=2", "--model=skipgram", "--hs", "--num_ns=0"]
  assert "--preset" not in " ".join(args)  # The word2vec preset, every other setting default.
  with pytest.raises(ValueError, match="--num_ns is swept"):  # A flag inside a group.
    grid.train_args(family, points[0], ["--num_ns=2"])
  with pytest.raises(ValueError, match="--hs is swept"):
    grid.train_args(family, points[0], ["--nohs"])


def test_validate_rejects_bad_grids():
  with pytest.raises(ValueError, match="no values"):
    grid.validate(sweeps.Sweep("x", {"seed": []}))
  with pytest.raises(ValueError, match="repeats"):
    grid.validate(sweeps.Sweep("x", {"seed": [1, 1]}))
  with pytest.raises(ValueError, match="both swept and a base flag"):
    grid.validate(sweeps.Sweep("x", {"seed": [1]}, base={"seed": 0}))
  with pytest.raises(ValueError, match="both swept and a base flag"):
    grid.validate(sweeps.Sweep("x", {"out": [{"hs": True}]}, base={"hs": False}))
  with pytest.raises(ValueError, match="swept by two grid axes"):
    grid.validate(sweeps.Sweep("x", {"hs": [True], "out": [{"hs": False, "num_ns": 0}]}))
  with pytest.raises(ValueError, match="mixes groups"):
    grid.validate(sweeps.Sweep("x", {"out": [{"hs": True}, {"num_ns": 0}]}))


def test_run_name_is_stable_and_filesystem_safe():
  point = {"window_size": 2, "num_ns": 5, "embedding_dim": 100}
  assert grid.run_name(point) == "window_size=2,num_ns=5,embedding_dim=100"
  assert grid.run_name(dict(point)) == grid.run_name(point)
  assert grid.run_name({"learning_rate": 0.025, "subsample": 1e-05, "progress": False}) == (
      "learning_rate=0.025,subsample=1e-05,progress=false")
  assert grid.run_name({}) == "base"
  odd = grid.run_name({"corpus": "data/a b.txt"})
  assert "/" not in odd and " " not in odd
  assert odd == grid.run_name({"corpus": "data/a b.txt"})
  assert odd != grid.run_name({"corpus": "data_a_b.txt"})  # Sanitised alike, still distinct.
  assert len(grid.run_name({"corpus": "x" * 1000})) < 255


def test_to_flags():
  assert grid.to_flags({"a": 1, "b": 0.5, "c": True, "d": False, "e": ["x", "y"], "f": None,
                          "g": "s"}) == [
      "--a=1", "--b=0.5", "--c", "--nod", "--e=x", "--e=y", "--g=s"]


def test_train_args_extra_replaces_base_flags():
  sweep = sweeps.Sweep("x", {"window_size": [1, 2]},
                       base={"corpus": ["default.txt"], "progress": False, "epochs": 1})
  args = grid.train_args(sweep, {"window_size": 2}, ["--corpus", "mine.txt", "--progress"])
  assert args == ["--epochs=1", "--window_size=2", "--corpus", "mine.txt", "--progress"]
  args = grid.train_args(sweep, {"window_size": 2}, ["--epochs=3"])
  assert args == ["--corpus=default.txt", "--noprogress", "--window_size=2", "--epochs=3"]
  with pytest.raises(ValueError, match="--window_size is swept"):
    grid.train_args(sweep, {"window_size": 2}, ["--window_size=3"])


def _write(path, obj):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w") as f:
    json.dump(obj, f)


def test_run_state(tmp_path):
  root = str(tmp_path)
  assert launcher.run_state(os.path.join(root, "absent")) == "new"
  _write(os.path.join(root, "done", "summary.json"), {"status": "done", "config": {}})
  assert launcher.run_state(os.path.join(root, "done")) == "done"
  _write(os.path.join(root, "ckpt", "config.json"), {})
  _write(os.path.join(root, "ckpt", "checkpoints", "latest"), "x")
  assert launcher.run_state(os.path.join(root, "ckpt")) == "resume"
  _write(os.path.join(root, "early", "config.json"), {})  # Stopped before its first checkpoint.
  assert launcher.run_state(os.path.join(root, "early")) == "restart"
  _write(os.path.join(root, "odd", "summary.json"), {"status": "failed"})
  assert launcher.run_state(os.path.join(root, "odd")) == "new"
  with open(os.path.join(root, "torn.json"), "w") as f:
    f.write('{"status": "do')
  os.makedirs(os.path.join(root, "torn"))
  os.replace(os.path.join(root, "torn.json"), os.path.join(root, "torn", "summary.json"))
  assert launcher.run_state(os.path.join(root, "torn")) == "new"


def test_stale_flags(tmp_path):
  run_dir = str(tmp_path / "r")
  _write(os.path.join(run_dir, "summary.json"),
         {"status": "done", "config": {"window_size": 2, "embedding_dim": 8}})
  assert launcher.stale_flags(run_dir, {"window_size": 2, "embedding_dim": 8}) == []
  assert launcher.stale_flags(run_dir, {"window_size": 1, "embedding_dim": 8}) == ["window_size"]


def _cli(*args):
  return subprocess.run([sys.executable, "-m", "experiments.launcher", *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=120)


def test_dry_run_skips_done_and_resumes_checkpointed(tmp_path):
  sweep_dir = str(tmp_path / "sweep")
  _write(os.path.join(sweep_dir, "window_size=1,embedding_dim=8", "summary.json"),
         {"status": "done", "config": {"window_size": 1, "embedding_dim": 8}})
  _write(os.path.join(sweep_dir, "window_size=1,embedding_dim=16", "config.json"), {})
  _write(os.path.join(sweep_dir, "window_size=1,embedding_dim=16", "checkpoints", "latest"), "")
  result = _cli("run", "tiny", "--sweep_dir", sweep_dir, "--dry_run", "--", "--corpus", "t.txt")
  assert result.returncode == 0, result.stderr
  lines = result.stdout.splitlines()
  assert len(lines) == 4
  assert lines[0] == "[1/4] skip window_size=1,embedding_dim=8 (done)"
  assert lines[1].startswith("[2/4] resume: ")
  assert lines[1].endswith(" --corpus t.txt --resume")
  assert f"--out_dir={sweep_dir}/window_size=1,embedding_dim=16" in lines[1]
  assert lines[2].startswith("[3/4] new: ")
  assert "-m experiments.train" in lines[2]
  for flag in ("--window_size=2", "--embedding_dim=8", "--epochs=1", "--min_count=1"):
    assert flag in lines[2].split()
  assert "--resume" not in lines[2]
  assert sorted(os.listdir(sweep_dir)) == ["window_size=1,embedding_dim=16",
                                           "window_size=1,embedding_dim=8"]  # Nothing written.


def test_unknown_sweep_is_a_one_line_error():
  result = _cli("run", "no_such_sweep")
  assert result.returncode == 2
  assert result.stderr.splitlines() == [
      "error: unknown sweep 'no_such_sweep'; known: " + ", ".join(sweeps.SWEEPS)]


def test_cli_usage_errors(tmp_path):
  result = _cli("run", "tiny", "--sweep_dir", str(tmp_path), "--dry_run")
  assert result.returncode == 2
  assert result.stderr.strip() == "error: sweep 'tiny' needs --corpus; pass it after --"
  result = _cli("run", "tiny", "--dry_run", "--", "--corpus=t", "--window_size=3")
  assert result.returncode == 2
  assert "--window_size is swept" in result.stderr
  assert _cli("frobnicate").returncode == 2


def test_list_shows_every_sweep():
  result = _cli("list")
  assert result.returncode == 0
  for name in sweeps.SWEEPS:
    assert f"\n{name}: " in "\n" + result.stdout


FAKE_TRAIN = textwrap.dedent("""\
    import json, os, sys
    args = sys.argv[1:]
    out_dir = [a.split("=", 1)[1] for a in args if a.startswith("--out_dir=")][0]
    print("fake train", " ".join(args))
    if "--window_size=2" in args and "--embedding_dim=16" in args:
      print("boom", file=sys.stderr)
      sys.exit(3)
    config = {a[2:].split("=")[0]: int(a.split("=")[1]) for a in args
              if a.startswith(("--window_size=", "--embedding_dim="))}
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
      json.dump({"status": "done", "config": config, "final_loss": 1.0}, f)
    """)


def test_launcher_runs_skips_and_names_failures(tmp_path, capsys):
  fake = tmp_path / "fake_train.py"
  fake.write_text(FAKE_TRAIN)
  sweep_dir = str(tmp_path / "sweep")
  runs = launcher.Launcher("tiny", sweeps.SWEEPS["tiny"], sweep_dir, ["--corpus=t.txt"],
                           parallel=2, program=[sys.executable, str(fake)])
  assert runs.run() == 1
  out, err = capsys.readouterr()
  assert "1 of 4 runs failed: window_size=2,embedding_dim=16" in err
  assert re.search(r"^\[\d/4\] failed window_size=2,embedding_dim=16 in \d+ s \(exit 3: boom; "
                   r"see .*train.log\)$", out, re.M)
  assert sum(line.startswith("[") and " done " in line for line in out.splitlines()) == 3
  assert re.search(r"^\[\d/4\] done window_size=1,embedding_dim=8 in \d+ s \(loss 1\)$", out, re.M)
  failed_log = os.path.join(sweep_dir, "window_size=2,embedding_dim=16", "train.log")
  with open(failed_log) as f:
    log = f.read()
  assert log.startswith("# ") and "boom" in log and "fake train" in log
  with open(os.path.join(sweep_dir, "sweep.json")) as f:
    manifest = json.load(f)
  assert manifest["name"] == "tiny"
  assert manifest["points"] == grid.expand(sweeps.SWEEPS["tiny"])
  assert [r["status"] for r in manifest["runs"]] == ["done", "done", "done", "failed"]
  assert manifest["runs"][3]["returncode"] == 3
  assert manifest["runs"][0]["run_dir"] == os.path.join(sweep_dir, "window_size=1,embedding_dim=8")

  again = launcher.Launcher("tiny", sweeps.SWEEPS["tiny"], sweep_dir, ["--corpus=t.txt"],
                            parallel=2, program=[sys.executable, str(fake)])
  assert again.run() == 1
  out, _ = capsys.readouterr()
  assert out.count(" skip ") == 3
  assert out.count("start ") == 1


def _config_of(sweep, point):
  """The Config experiments.train builds for a point of `sweep`, resolved for the step that
  auto gives it."""
  from w2v_jax import config as config_lib  # pylint: disable=import-outside-toplevel
  from w2v_jax import step_choice  # pylint: disable=import-outside-toplevel

  flags = {**sweep.base, **point}
  preset = config_lib.presets()[flags.pop("preset", "word2vec")]
  for name in ("sequence_length", "max_vocab"):  # 0 = no limit, as experiments.train reads it.
    if flags.get(name) == 0:
      flags[name] = None
  flags["corpus"] = tuple(flags["corpus"])
  config = preset.replace(**flags)
  step = "generic" if step_choice.fused_unsupported(config) else "fused"
  return config_lib.resolve(config, step=step)


def test_seed_to_word2vec_goes_from_the_seed_preset_to_the_word2vec_preset_one_change_a_time():
  from w2v_jax import config as config_lib  # pylint: disable=import-outside-toplevel

  sweep = sweeps.SWEEPS["seed_to_word2vec"]
  points, names = grid.expand(sweep), grid.hparams(sweep)
  assert len(points) == 30 and [p["seed"] for p in points[:10]] == [1] * 10
  assert names[0] == {"seed": 1, "change": "0_seed"}
  assert grid.run_name(names[-1]) == "seed=3,change=9_min_count_5"
  configs = [_config_of(sweep, p) for p in points[:10]]
  ignore = {"corpus", "epochs", "seed", "progress", "preset"}

  def differences(a, b):
    a, b = a.flat(), b.flat()
    return {k for k, v in a.items() if k not in ignore and b[k] != v}

  presets = {name: config_lib.resolve(preset, step="generic")
             for name, preset in config_lib.presets().items()}
  assert differences(configs[0], presets["seed"]) == set()  # The faithful preset itself.
  # The last row is word2vec's recipe on the generic step (its explicit pairs of 1024); auto
  # gives the recipe the fused step, which trains the same recipe from whole sentences.
  assert differences(configs[-1], presets["word2vec"]) == set()
  assert configs[-1].devices.step == "generic"
  changed = [differences(b, a) for a, b in zip(configs, configs[1:])]
  assert changed[0] == {"fixed_training_set", "repeat_batch_order", "drop_remainder", "shuffle"}
  assert changed[1] == {"sequence_length"}
  assert changed[2] == {"reserved_tokens"}
  assert changed[3] == {"negatives"}
  assert changed[6] == {"loss", "num_ns"}
  assert all(changed), "every row changes something"
  # Comparable budgets: epochs fall as the pairs per epoch grow.
  epochs = [c.run.epochs for c in configs]
  assert epochs == sorted(epochs, reverse=True) and epochs[0] == 45 and epochs[-1] == 2
