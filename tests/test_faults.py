"""Faults a run must survive: SIGKILL anywhere, corrupt checkpoints, full disks, two writers.

Each run is a real `experiments.train` process, started through a small driver that can plant
one fault (set by W2V_FAULT): SIGKILL at the N-th jitted call, halfway through writing the N-th
checkpoint or an export file, or an OSError at a write. The driver patches the library from
outside; the library holds no fault hooks.
"""

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import zipfile

import numpy as np
import pytest

from w2v_jax import checkpoint, word2vec_format

from conftest import ROOT

DRIVER = textwrap.dedent("""\
    import contextlib, errno, os, signal, sys
    from absl import app
    from w2v_jax import checkpoint, io_utils, loop
    from experiments import train

    kind, _, arg = os.environ.get("W2V_FAULT", "").partition(":")
    calls = {"n": 0}

    def die():
      sys.stdout.flush()
      os.kill(os.getpid(), signal.SIGKILL)

    def nth():
      calls["n"] += 1
      return calls["n"] == int(arg.split("@")[0])

    if kind == "step":  # Killed before the N-th jitted call of this process.
      run = loop.run
      def killing_run(state, train_fn, *args, **kwargs):
        def fn(state, batches):
          if nth():
            die()
          return train_fn(state, batches)
        return run(state, fn, *args, **kwargs)
      loop.run = killing_run
    elif kind in ("checkpoint", "enospc"):  # Killed, or out of disk, inside the N-th checkpoint.
      write_npz = checkpoint.write_npz
      def failing_write_npz(f, arrays):
        if nth():
          f.write(b"PK" + b"x" * 4096)
          f.flush()
          if kind == "enospc":
            raise OSError(errno.ENOSPC, "No space left on device")
          die()
        write_npz(f, arrays)
      checkpoint.write_npz = failing_write_npz
    elif kind in ("export", "eacces"):  # Killed (or refused) while writing the file named.
      target = arg
      atomic_open = io_utils.atomic_open
      @contextlib.contextmanager
      def failing_open(path, mode="w", **kwargs):
        with atomic_open(path, mode, **kwargs) as f:
          if os.path.basename(path) == target:
            f.write(b"partial" if "b" in mode else "partial")
            f.flush()
            if kind == "eacces":
              raise PermissionError(errno.EACCES, "Permission denied")
            die()
          yield f
      io_utils.atomic_open = failing_open

    app.run(lambda argv: sys.exit(train.main(argv)), argv=[sys.argv[0], *sys.argv[1:]])
    """)

# Small and quick, with checkpoints and logs every few steps so that kills land between them.
FLAGS = ["--min_count=1", "--window_size=3", "--embedding_dim=16", "--epochs=3",
         "--batch_size=256", "--steps_per_call=2", "--learning_rate=0.05", "--subsample=0",
         "--log_every=4", "--checkpoint_every=6", "--noprogress", "--show_words=t0w0",
         "--threads=1"]
EXPORTS = ["vectors.tsv", "metadata.tsv", "vectors.txt", "vectors.bin", "tensors.tsv"]


def _run(tmp_path, out_dir, corpus, *extra, fault="", wait=True):
  driver = tmp_path / "driver.py"
  if not driver.exists():
    driver.write_text(DRIVER)
  env = {**os.environ, "W2V_FAULT": fault,
         "PYTHONPATH": os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p)}
  command = [sys.executable, str(driver), f"--out_dir={out_dir}", f"--corpus={corpus}", *FLAGS,
             *extra]
  proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=env, cwd=ROOT)
  if not wait:
    return proc
  out, err = proc.communicate(timeout=300)
  return proc.returncode, out, err


def _vectors(run_dir):
  return word2vec_format.read(os.path.join(run_dir, "vectors.bin"))[1]


def _error_lines(err):
  """stderr without absl's log lines (I1203 12:00:00.000 ...)."""
  return [l for l in err.splitlines() if l.strip() and not re.match(r"[IWEF]\d{4} ", l)]


def _assert_no_partial_files(run_dir, temps_allowed=True):
  """Nothing under a final name is half-written: checkpoints verify, vector files parse.

  A killed process leaves its temp file (`name.XXXX.tmp`, never a final name); the next run
  removes them.
  """
  for root, _, files in os.walk(run_dir):
    for name in files:
      assert temps_allowed or not name.endswith(".tmp"), (root, name)
      path = os.path.join(root, name)
      if name.startswith("ckpt-") and name.endswith(".npz"):
        assert checkpoint.verify(path) is None, path
      if name in ("vectors.bin", "vectors.txt"):
        word2vec_format.read(path)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory, planted_module_file):
  tmp_path = tmp_path_factory.mktemp("baseline")
  code, _, err = _run(tmp_path, str(tmp_path / "run"), planted_module_file)
  assert code == 0, err
  return _vectors(str(tmp_path / "run"))


@pytest.fixture(scope="module")
def planted_module_file(tmp_path_factory):
  import gzip  # pylint: disable=import-outside-toplevel

  from conftest import planted_corpus  # pylint: disable=import-outside-toplevel

  path = tmp_path_factory.mktemp("corpus") / "planted.txt.gz"
  with gzip.open(path, "wt", encoding="utf-8") as f:
    f.write("\n".join(planted_corpus()) + "\n")
  return str(path)


@pytest.mark.slow
def test_sigkill_at_twenty_points_then_resume_gives_the_uninterrupted_vectors(
    tmp_path, planted_module_file, baseline):
  rng = np.random.default_rng(0)
  # Kills during training (at a jitted call, or halfway through a checkpoint file), then during
  # the export of each vector file; each run resumes the one before.
  training = [f"step:{rng.integers(2, 9)}" if i % 3 else f"checkpoint:{rng.integers(1, 3)}"
              for i in range(15)]
  faults = training + [f"export:{name}" for name in EXPORTS]
  run_dir = str(tmp_path / "run")
  killed = 0
  for i, fault in enumerate(faults):
    code, _, err = _run(tmp_path, run_dir, planted_module_file,
                        *(["--resume"] if i else []), fault=fault)
    assert code in (-signal.SIGKILL, 0), (fault, err)
    killed += code == -signal.SIGKILL
    _assert_no_partial_files(run_dir)
    with open(os.path.join(run_dir, "status.json")) as f:
      assert json.load(f)["status"] in ("running", "done")  # What a killed run leaves.
  assert killed >= 20
  code, _, err = _run(tmp_path, run_dir, planted_module_file, "--resume")
  assert code == 0, err
  _assert_no_partial_files(run_dir, temps_allowed=False)
  np.testing.assert_array_equal(_vectors(run_dir), baseline)  # Bit for bit.


@pytest.mark.slow
def test_corrupt_newest_checkpoint_is_reported_and_the_previous_one_used(
    tmp_path, planted_module_file, baseline):
  run_dir = str(tmp_path / "run")
  code, _, _ = _run(tmp_path, run_dir, planted_module_file, fault="step:40")
  assert code == -signal.SIGKILL
  ckpt_dir = os.path.join(run_dir, "checkpoints")
  newest = checkpoint.latest(ckpt_dir)
  with open(newest, "r+b") as f:  # Truncated, as a disk that filled up mid-write might leave it.
    f.truncate(os.path.getsize(newest) // 3)
  code, _, err = _run(tmp_path, run_dir, planted_module_file, "--resume")
  assert code == 0, err
  assert f"{newest}: corrupt checkpoint" in err and "trying an older one" in err
  assert os.path.exists(newest + ".corrupt")
  np.testing.assert_array_equal(_vectors(run_dir), baseline)


@pytest.mark.slow
@pytest.mark.parametrize("fault, path, cause", [
    ("enospc:2", "checkpoints/ckpt-", "No space left on device"),
    ("eacces:vectors.bin", "vectors.bin", "Permission denied"),
])
def test_write_errors_are_one_line_with_path_status_and_no_partial_file(
    tmp_path, planted_module_file, baseline, fault, path, cause):
  run_dir = str(tmp_path / "run")
  code, out, err = _run(tmp_path, run_dir, planted_module_file, fault=fault)
  assert code == 1, err
  lines = _error_lines(err)
  assert len(lines) == 1 and lines[0].startswith(f"error: {run_dir}/{path}"), err
  assert f": {cause} (the last checkpoint is kept" in lines[0]
  assert "Traceback" not in err + out
  with open(os.path.join(run_dir, "status.json")) as f:
    status = json.load(f)
  assert status["status"] == "failed" and cause in status["error"]
  _assert_no_partial_files(run_dir)
  assert not os.path.exists(os.path.join(run_dir, "vectors.bin"))
  code, _, err = _run(tmp_path, run_dir, planted_module_file, "--resume")
  assert code == 0, err
  np.testing.assert_array_equal(_vectors(run_dir), baseline)


def _tmpfs(path, size):
  os.makedirs(path, exist_ok=True)
  result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", path],
                          capture_output=True, check=False)
  return result.returncode == 0


@pytest.mark.slow
def test_a_really_full_disk(tmp_path, planted_module_file, baseline):
  disk = str(tmp_path / "disk")
  if not _tmpfs(disk, "4m"):
    pytest.skip("cannot mount a tmpfs here (needs root)")
  try:
    filler = os.path.join(disk, "filler")
    with open(filler, "wb") as f:  # Leave room for the corpus cache and a little more.
      f.write(b"\0" * (4 * 2**20 - 100 * 2**10))
    run_dir = os.path.join(disk, "run")
    code, out, err = _run(tmp_path, run_dir, planted_module_file)
    assert code == 1, err
    lines = _error_lines(err)
    assert len(lines) == 1 and lines[0].startswith(f"error: {run_dir}/"), err
    assert "No space left on device" in lines[0] and "Traceback" not in err + out
    _assert_no_partial_files(run_dir)
    os.unlink(filler)
    code, _, err = _run(tmp_path, run_dir, planted_module_file, "--resume")
    assert code == 0, err
    np.testing.assert_array_equal(_vectors(run_dir), baseline)
  finally:
    subprocess.run(["umount", "-l", disk], check=False)


def test_out_dir_that_cannot_be_created_is_one_line(tmp_path, planted_module_file):
  code, out, err = _run(tmp_path, "/proc/forbidden/run", planted_module_file)
  assert code == 2
  assert _error_lines(err) == ["error: --out_dir=/proc/forbidden/run: cannot create the run "
                               "directory: No such file or directory"]


@pytest.mark.slow
def test_second_writer_is_refused_and_a_killed_holder_leaves_no_stuck_lock(
    tmp_path, planted_module_file):
  run_dir = str(tmp_path / "run")
  first = _run(tmp_path, run_dir, planted_module_file, "--epochs=400", wait=False)
  deadline = time.monotonic() + 120
  while not os.path.exists(os.path.join(run_dir, "checkpoints")):
    assert first.poll() is None and time.monotonic() < deadline
    time.sleep(0.1)
  code, _, err = _run(tmp_path, run_dir, planted_module_file, "--epochs=400", "--resume")
  assert code == 2
  assert _error_lines(err) == [f"error: {os.path.abspath(run_dir)}: in use by another run (pid "
                               f"{first.pid}); wait for it to end, or use another --out_dir"]
  first.kill()
  first.communicate()
  code, _, err = _run(tmp_path, run_dir, planted_module_file, "--epochs=400", "--resume",
                      fault="step:2")
  assert code == -signal.SIGKILL, err  # It got the lock, and trained.


@pytest.mark.slow
def test_resume_with_other_settings_is_refused_with_the_differences(
    tmp_path, planted_module_file):
  run_dir = str(tmp_path / "run")
  assert _run(tmp_path, run_dir, planted_module_file, fault="step:5")[0] == -signal.SIGKILL
  code, _, err = _run(tmp_path, run_dir, planted_module_file, "--resume", "--window_size=4",
                      "--epochs=5", "--log_every=2")  # Logging may change; the rest may not.
  assert code == 2
  assert _error_lines(err) == [
      f"error: --resume: {run_dir} was started with other settings: --epochs=5 (the run has 3), "
      "--window_size=4 (the run has 3); pass the run's own flags (its flags.txt), or start a "
      "new --out_dir"]
  code, _, err = _run(tmp_path, run_dir, planted_module_file, "--resume", "--log_every=2")
  assert code == 0, err


def test_checkpoint_zip_holds_a_crc_for_every_array(tmp_path):
  checkpoint.save(str(tmp_path), 1, {"a": np.arange(10.0), "b": {"c": np.ones(3)}})
  with zipfile.ZipFile(checkpoint.latest(str(tmp_path))) as archive:
    assert {i.filename: i.CRC != 0 for i in archive.infolist()} == {
        "['a'].npy": True, "['b']['c'].npy": True}


def test_runs_saved_before_auto_settings_resume_where_auto_means_the_same():
  """config.json of a run from before `--init auto`, `--skipgram_input` and `--step` (flat, init
  'word2vec', neither of the others) resumes under today's defaults when they train the same,
  and not otherwise; the differences name the settings resolved."""
  from w2v_jax import config as config_lib  # pylint: disable=import-outside-toplevel

  def saved(**changes):
    values = config_lib.make(corpus=("c.txt",), init="word2vec", **changes).flat()
    del values["skipgram_input"], values["step"], values["threads"]
    return values

  def today(**settings):  # What a resumed run resolves to: the step the saved run had.
    return config_lib.resolve(config_lib.make(corpus=("c.txt",), **settings), step="generic")

  assert config_lib.resume_differences(saved(), today()) == []
  # With subwords, auto now means fastText's init and roles: not what the old run trained.
  assert config_lib.resume_differences(saved(subwords=True), today(subwords=True)) == [
      "--batch_size=128 (the run has 256)", "--init='fasttext' (the run has 'word2vec')",
      "--layout='windows' (the run has 'pairs')",
      "--skipgram_input='centre' (the run has 'context')"]
  assert config_lib.resume_differences(saved(subwords=True), today(
      subwords=True, init="word2vec", skipgram_input="context")) == []
  assert config_lib.resume_differences(saved(), today(window_size=3)) == [
      "--window_size=3 (the run has 5)"]
  fused = config_lib.resolve(config_lib.make(corpus=("c.txt",)), step="fused", threads=2)
  assert config_lib.resume_differences(saved(), fused) == [
      "--batch_size=4096 (the run has 1024)", "--layout='sentences' (the run has 'pairs')",
      "--step='fused' (the run has 'generic')"]
  assert config_lib.resume_differences(fused.flat(), fused.replace(threads=1)) == []
