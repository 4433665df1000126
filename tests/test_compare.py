"""experiments.compare on hand-written run directories: discovery, table, sort, CSV/MD, plots."""

import csv
import io
import json
import os
import subprocess
import sys

import pytest

from experiments import compare

from conftest import ROOT

BASE = {"window_size": 5, "num_ns": 5, "embedding_dim": 100, "learning_rate": 0.025,
        "corpus": ["c.txt"], "optimizer": "sgd", "seed": 0, "epochs": 5}


def make_run(root, name, config=None, summary=None, status=None, metrics=()):
  """A run directory as experiments.train leaves it; `summary` holds the results only."""
  run_dir = os.path.join(root, name)
  os.makedirs(run_dir)
  config = {**BASE, **(config or {})}
  with open(os.path.join(run_dir, "config.json"), "w") as f:
    json.dump(config, f)
  with open(os.path.join(run_dir, "status.json"), "w") as f:
    json.dump({"status": status or ("done" if summary else "running")}, f)
  if summary is not None:
    with open(os.path.join(run_dir, "summary.json"), "w") as f:
      json.dump({"status": "done", "config": config, **summary}, f)
  with open(os.path.join(run_dir, "metrics.jsonl"), "w") as f:
    f.writelines(json.dumps(m) + "\n" for m in metrics)
  return run_dir


def result(loss, analogy, wordsim=0.3, seconds=10.0):
  return {"final_loss": loss, "final_accuracy": 0.5, "eval/analogy_accuracy": analogy,
          "eval/wordsim_spearman": wordsim, "eval/analogy_total": 1000,
          "train_seconds": seconds, "words_per_sec": 1e6 / seconds, "steps": 100}


@pytest.fixture
def sweep_dir(tmp_path):
  root = str(tmp_path / "sweep")
  metrics = lambda loss: [{"step": 10, "epoch": 0.5, "loss": loss + 1, "accuracy": 0.4},
                          {"step": 20, "epoch": 1.0, "loss": loss, "accuracy": 0.5},
                          {"step": 20, "epoch": 1.0, "eval/analogy_accuracy": 0.1}]
  make_run(root, "window_size=2,embedding_dim=50", {"window_size": 2, "embedding_dim": 50},
           result(2.0, 0.10), metrics=metrics(2.0))
  make_run(root, "window_size=2,embedding_dim=100", {"window_size": 2, "embedding_dim": 100},
           result(1.5, 0.30), metrics=metrics(1.5))
  make_run(root, "window_size=5,embedding_dim=50", {"window_size": 5, "embedding_dim": 50},
           result(1.8, 0.20), metrics=metrics(1.8))
  # Interrupted: no summary, status and last loss from its files.
  make_run(root, "window_size=5,embedding_dim=100", {"window_size": 5, "embedding_dim": 100},
           status="interrupted", metrics=[{"step": 10, "loss": 3.0, "accuracy": 0.2},
                                          {"step": 12, "loss": 2.5, "accuracy": 0.3}])
  os.makedirs(os.path.join(root, "not_a_run"))
  with open(os.path.join(root, "sweep.json"), "w") as f:
    f.write("{}")
  return root


def test_find_runs_one_level_below_sweep_dir_and_direct(sweep_dir):
  runs = compare.find_runs([sweep_dir])
  assert [os.path.basename(r) for r in runs] == sorted([
      "window_size=2,embedding_dim=50", "window_size=2,embedding_dim=100",
      "window_size=5,embedding_dim=50", "window_size=5,embedding_dim=100"])
  one = os.path.join(sweep_dir, "window_size=2,embedding_dim=50")
  assert compare.find_runs([one, one]) == [one]
  assert compare.find_runs([os.path.join(sweep_dir, "not_a_run")]) == []


def test_load_run_with_and_without_summary(sweep_dir):
  done = compare.load_run(os.path.join(sweep_dir, "window_size=2,embedding_dim=100"))
  assert done.status == "done"
  assert done.results["eval/analogy_accuracy"] == 0.30
  assert done.results["final_loss"] == 1.5
  assert "steps" not in done.results
  assert done.config["embedding_dim"] == 100
  partial = compare.load_run(os.path.join(sweep_dir, "window_size=5,embedding_dim=100"))
  assert partial.status == "interrupted"
  assert partial.results == {"final_loss": 2.5, "final_accuracy": 0.3}


def test_load_run_reads_preset_from_flagfile(tmp_path):
  run_dir = make_run(str(tmp_path), "preset=seed", summary=result(1.0, 0.1))
  with open(os.path.join(run_dir, "flags.txt"), "w") as f:
    f.write("--corpus=c.txt\n--preset=seed\n--noresume\n")
  assert compare.load_run(run_dir).config["preset"] == "seed"


def test_varying_flags(sweep_dir):
  runs = compare.load_runs(compare.find_runs([sweep_dir]))
  assert compare.varying_flags(runs) == ["embedding_dim", "window_size"]
  assert compare.varying_flags(runs, compare.name_order(runs)) == ["window_size",
                                                                    "embedding_dim"]
  assert compare.varying_flags(runs[:1]) == []


def test_varying_flags_counts_a_missing_key_as_different():
  a = compare.Run("a", "a", "done", {"x": 1, "y": [1, 2]}, {})
  b = compare.Run("b", "b", "done", {"x": 1, "y": [1, 2], "z": 3}, {})
  c = compare.Run("c", "c", "done", {"x": 1, "y": [1, 3]}, {})
  assert compare.varying_flags([a, b]) == ["z"]
  assert compare.varying_flags([a, c]) == ["y"]


def test_table_rows_sorted_by_metric_descending(sweep_dir):
  runs = compare.load_runs(compare.find_runs([sweep_dir]))
  columns, rows = compare.table(runs, "eval/analogy_accuracy")
  assert columns == ["run", "window_size", "embedding_dim", "status", "final_loss",
                     "final_accuracy", "eval/analogy_accuracy", "eval/wordsim_spearman",
                     "train_seconds", "words_per_sec"]
  assert [(r[1], r[2], r[3]) for r in rows] == [
      (2, 100, "done"), (5, 50, "done"), (2, 50, "done"), (5, 100, "interrupted")]
  assert [r[6] for r in rows] == [0.30, 0.20, 0.10, None]  # The run without it goes last.
  assert rows[0][0] == "window_size=2,embedding_dim=100"


def test_table_ascending_for_loss_and_wide_columns(sweep_dir):
  runs = compare.load_runs(compare.find_runs([sweep_dir]))
  columns, rows = compare.table(runs, "final_loss", ascending=True, wide=True)
  assert [r[columns.index("final_loss")] for r in rows] == [1.5, 1.8, 2.0, 2.5]
  assert "eval/analogy_total" in columns


def test_resolve_metric_accepts_short_eval_names(sweep_dir):
  runs = compare.load_runs(compare.find_runs([sweep_dir]))
  assert compare.resolve_metric(runs, "analogy_accuracy") == "eval/analogy_accuracy"
  assert compare.resolve_metric(runs, "final_loss") == "final_loss"


def test_csv_round_trip(sweep_dir):
  runs = compare.load_runs(compare.find_runs([sweep_dir]))
  columns, rows = compare.table(runs, "eval/analogy_accuracy")
  read = list(csv.reader(io.StringIO(compare.to_csv(columns, rows))))
  assert read[0] == columns
  assert len(read) == len(rows) + 1
  for written, original in zip(read[1:], rows):
    assert written[0] == original[0]  # Commas in run names survive quoting.
    for cell, value in zip(written[1:], original[1:]):
      if value is None:
        assert cell == ""
      elif isinstance(value, (int, float)):
        assert float(cell) == value
      else:
        assert cell == value


def test_markdown_table(sweep_dir):
  runs = compare.load_runs(compare.find_runs([sweep_dir]))
  columns, rows = compare.table(runs, "eval/analogy_accuracy")
  lines = compare.to_markdown(columns, rows).splitlines()
  assert len(lines) == len(rows) + 2
  assert [c.strip() for c in lines[0].strip("|").split("|")] == columns
  assert set(lines[1]) <= {"|", "-", ":"}
  first = [c.strip() for c in lines[2].strip("|").split("|")]
  assert first[:4] == ["window_size=2,embedding_dim=100", "2", "100", "done"]
  assert first[6] == "0.3"
  last = [c.strip() for c in lines[-1].strip("|").split("|")]
  assert last[6] == "-"
  assert len({len(line) for line in lines}) == 1  # Padded: reads as plain text.


def test_markdown_escapes_pipes():
  text = compare.to_markdown(["run"], [["a|b"]])
  assert "a\\|b" in text


def test_write_tables_atomically(sweep_dir, tmp_path):
  runs = compare.load_runs(compare.find_runs([sweep_dir]))
  out = str(tmp_path / "out")
  paths = compare.write_tables(runs, "eval/analogy_accuracy", False, out)
  assert sorted(os.listdir(out)) == ["compare.csv", "compare.md"]
  assert [os.path.basename(p) for p in paths] == ["compare.csv", "compare.md"]
  with open(os.path.join(out, "compare.csv"), newline="") as f:
    header = next(csv.reader(f))
  assert "eval/analogy_total" in header  # The CSV keeps every result.


def test_plots(sweep_dir, tmp_path):
  pytest.importorskip("matplotlib")
  runs = compare.load_runs(compare.find_runs([sweep_dir]))
  out = str(tmp_path / "plots")
  paths = (compare.plot_curves(runs, out, "eval/analogy_accuracy")
           + compare.plot_by_flag(runs, "eval/analogy_accuracy", out))
  assert sorted(os.path.basename(p) for p in paths) == [
      "analogy_accuracy_by_flag.png", "eval.png", "loss.png"]
  for path in paths:
    with open(path, "rb") as f:
      assert f.read(8) == b"\x89PNG\r\n\x1a\n"
  assert sorted(os.listdir(out)) == sorted(os.path.basename(p) for p in paths)  # No temp files.
  assert compare.plot_by_flag(runs[:1], "eval/analogy_accuracy", out) == []


def _cli(*args, env=None):
  return subprocess.run([sys.executable, "-m", "experiments.compare", *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=120, env=env)


def test_cli_writes_into_the_sweep_dir(sweep_dir):
  result = _cli(sweep_dir, "--metric", "final_loss")
  assert result.returncode == 0, result.stderr
  assert "window_size=2,embedding_dim=100" in result.stdout.splitlines()[2]  # Lowest loss.
  assert os.path.exists(os.path.join(sweep_dir, "compare.csv"))
  assert os.path.exists(os.path.join(sweep_dir, "compare.md"))


def test_cli_errors(tmp_path):
  result = _cli(str(tmp_path))
  assert result.returncode == 2
  assert result.stderr.strip().startswith("error: no run directories")
  result = _cli(str(tmp_path / "missing"))
  assert result.returncode == 2
  assert "no such directory" in result.stderr


def test_cli_plots_without_matplotlib(sweep_dir, tmp_path):
  fake = tmp_path / "fake"
  fake.mkdir()
  (fake / "matplotlib.py").write_text("raise ImportError('no matplotlib here')\n")
  env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(fake), ROOT])}
  result = _cli(sweep_dir, "--plots", env=env)
  assert result.returncode == 2
  assert result.stderr.strip().splitlines() == [
      "error: --plots needs matplotlib: pip install matplotlib (or the [plot] extra)"]


def test_seed_summary_groups_runs_that_differ_only_in_seed(tmp_path):
  root = str(tmp_path / "ablation")
  scores = {("0_seed", 1): (0.01, 0.1), ("0_seed", 2): (0.03, 0.3), ("1_next", 1): (0.20, 0.5),
            ("1_next", 2): (0.22, 0.6), ("1_next", 3): (0.30, 0.7)}
  for (change, seed), (analogy, wordsim) in scores.items():
    make_run(root, f"seed={seed},change={change}", {"seed": seed},
             {**result(1.0, analogy, wordsim), "eval/analogy_accuracy_all": analogy / 2})
  runs = compare.load_runs(compare.find_runs([root]))
  groups = compare.seed_groups(runs)
  assert {k: [r.name for r in v] for k, v in groups.items()} == {
      "change=0_seed": ["seed=1,change=0_seed", "seed=2,change=0_seed"],
      "change=1_next": ["seed=1,change=1_next", "seed=2,change=1_next", "seed=3,change=1_next"]}
  columns, rows = compare.seed_table(groups)
  assert columns[:5] == ["group", "seeds", "analogy_accuracy mean", "analogy_accuracy min",
                         "analogy_accuracy max"]
  assert rows[0][:2] == ["change=0_seed", 2]
  assert rows[0][2:] == pytest.approx([0.02, 0.01, 0.03, 0.01, 0.005, 0.015, 0.2, 0.1, 0.3])
  assert rows[1][:2] == ["change=1_next", 3]
  assert rows[1][2:5] == pytest.approx([0.24, 0.20, 0.30])
  result_ = _cli(root, "--over_seeds", *(["--plots"] if _has_matplotlib() else []))
  assert result_.returncode == 0, result_.stderr
  with open(os.path.join(root, "seeds.csv")) as f:
    assert [r[:2] for r in csv.reader(f)][1:] == [["change=0_seed", "2"], ["change=1_next", "3"]]
  if _has_matplotlib():
    with open(os.path.join(root, "seeds.png"), "rb") as f:
      assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def _has_matplotlib():
  try:
    import matplotlib  # pylint: disable=import-outside-toplevel,unused-import
  except ImportError:
    return False
  return True
