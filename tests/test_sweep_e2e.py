"""End to end: the tiny sweep through launch.sh, stopped by SIGTERM, resumed, then compared."""

import gzip
import math
import os
import signal
import subprocess
import sys
import time

import pytest

from experiments import compare

from conftest import ROOT, planted_corpus


def _launch(sweep_dir: str, corpus: str) -> subprocess.Popen:
  command = ["bash", os.path.join(ROOT, "launch.sh"), "sweep", "tiny", "--sweep_dir", sweep_dir,
             "--corpus", corpus]
  # A session of its own, so the test can signal the whole group as a terminal would.
  return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          env={**os.environ, "PYTHON": sys.executable}, start_new_session=True)


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(os.path.join(ROOT, "experiments", "train.py")),
                    reason="experiments/train.py not written yet")
def test_tiny_sweep_stops_on_sigterm_resumes_and_compares(tmp_path):
  corpus = str(tmp_path / "tiny.txt.gz")
  with gzip.open(corpus, "wt", encoding="utf-8") as f:
    f.write("\n".join(planted_corpus(sentences=1500)) + "\n")
  sweep_dir = str(tmp_path / "sweep")
  first = os.path.join(sweep_dir, "window_size=1,embedding_dim=8", "summary.json")

  proc = _launch(sweep_dir, corpus)
  deadline = time.monotonic() + 240
  while not os.path.exists(first):
    if proc.poll() is not None or time.monotonic() > deadline:
      proc.kill()
      pytest.fail(f"first run never finished:\n{proc.communicate()[0]}")
    time.sleep(0.05)
  os.killpg(proc.pid, signal.SIGTERM)
  out, _ = proc.communicate(timeout=240)
  assert proc.returncode == 128 + signal.SIGTERM, out
  assert "interrupted; run the same command again to resume" in out
  statuses = compare.load_runs(compare.find_runs([sweep_dir]))
  assert 1 <= sum(r.status == "done" for r in statuses) < 4, out

  proc = _launch(sweep_dir, corpus)
  out, _ = proc.communicate(timeout=480)
  assert proc.returncode == 0, out
  assert "skip window_size=1,embedding_dim=8 (done)" in out
  assert "all 4 runs done" in out

  result = subprocess.run([sys.executable, "-m", "experiments.compare", sweep_dir,
                           "--metric", "final_loss"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
  assert result.returncode == 0, result.stderr
  assert os.path.exists(os.path.join(sweep_dir, "compare.csv"))
  runs = compare.load_runs(compare.find_runs([sweep_dir]))
  columns, rows = compare.table(runs, "final_loss", ascending=True)
  assert len(rows) == 4
  assert columns[:4] == ["run", "window_size", "embedding_dim", "status"]
  assert sorted((r[1], r[2]) for r in rows) == [(1, 8), (1, 16), (2, 8), (2, 16)]
  for row in rows:
    assert row[0] == f"window_size={row[1]},embedding_dim={row[2]}"
    assert row[3] == "done"
    values = dict(zip(columns, row))
    assert 0 < values["final_loss"] < 6 * math.log(2) + 1e-6  # Below chance for 5 negatives.
    assert 0 <= values["final_accuracy"] <= 1
    assert values["eval/analogy_accuracy"] is not None
    assert values["words_per_sec"] > 0
  losses = [r[columns.index("final_loss")] for r in rows]
  assert losses == sorted(losses)
