r"""Runs a sweep: one experiments.train process per point of its grid.

  python -m experiments.launcher list
  python -m experiments.launcher run window_ns_dim --sweep_dir runs/sweeps/window_ns_dim --parallel 2
  python -m experiments.launcher run tiny --sweep_dir /tmp/tiny --dry_run -- --corpus tiny.txt

Everything after `--` is passed to every `experiments.train` run and replaces a base flag of the
same name (absl stops parsing at `--`, which keeps the launcher's own flags apart from the train
flags it forwards). Each point runs in `SWEEP_DIR/<run_name>` with its output in `train.log`;
finished points are skipped, interrupted ones resumed, so running the same command again
continues a sweep. SIGINT/SIGTERM are forwarded to the runs (they checkpoint), then the launcher
exits with 128 + signal; a second signal kills them.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

from absl import app, flags

from experiments import grid
from experiments.sweeps import SWEEPS, Named, Point, Sweep
from w2v_jax import io_utils, logs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_state(run_dir: str) -> str:
  """'done' (summary.json says so), 'resume' (a checkpoint exists), 'restart' or 'new'."""
  summary = io_utils.read_json(os.path.join(run_dir, "summary.json"))
  if summary is not None and summary.get("status") == "done":
    return "done"
  checkpoints = os.path.join(run_dir, "checkpoints")
  if os.path.isdir(checkpoints) and os.listdir(checkpoints):
    return "resume"
  return "restart" if os.path.exists(os.path.join(run_dir, "config.json")) else "new"


def stale_flags(run_dir: str, point: Point) -> list[str]:
  """Swept flags whose value in a finished run's config differs from the point's."""
  summary = io_utils.read_json(os.path.join(run_dir, "summary.json")) or {}
  config = summary.get("config", {})
  return [k for k, v in point.items() if k in config and config[k] != v]


@dataclasses.dataclass
class _Run:
  index: int
  name: str
  point: Point
  hparams: Point  # What the run is named and shown by in HParams.
  run_dir: str
  state: str
  status: str = "pending"
  returncode: int | None = None
  seconds: float | None = None
  proc: subprocess.Popen | None = None
  started: float = 0.0


TRAIN = (sys.executable, "-m", "experiments.train")


class Launcher:
  """Runs a sweep's points as `program` (experiments.train) processes, `parallel` at a time."""

  def __init__(self, name: str, sweep: Sweep, sweep_dir: str, extra: Sequence[str],
               parallel: int, program: Sequence[str] = TRAIN):
    self.name, self.sweep, self.sweep_dir = name, sweep, sweep_dir
    self.extra, self.parallel, self.program = list(extra), parallel, list(program)
    self.runs = [_Run(i, grid.run_name(h), p, h, os.path.join(sweep_dir, grid.run_name(h)),
                      run_state(os.path.join(sweep_dir, grid.run_name(h))))
                 for i, (p, h) in enumerate(zip(grid.expand(sweep), grid.hparams(sweep)))]
    self.domains = grid.hparam_domains(sweep)
    self.signals: list[int] = []
    self.finished = 0

  def command(self, run: _Run) -> list[str]:
    resume = ["--resume"] if run.state == "resume" else []
    return [*self.program, f"--out_dir={run.run_dir}",
            *grid.train_args(self.sweep, run.point, self.extra), *resume]

  def dry_run(self) -> None:
    total = len(self.runs)
    for run in self.runs:
      if run.state == "done":
        print(f"[{run.index + 1}/{total}] skip {run.name} (done)")
      else:
        print(f"[{run.index + 1}/{total}] {run.state}: {shlex.join(self.command(run))}")

  def run(self) -> int:
    """Runs every unfinished point; returns the exit status for the whole sweep."""
    os.makedirs(self.sweep_dir, exist_ok=True)
    previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
      self._write_manifest()
      for run in self.runs:
        if run.state == "done":
          self._skip(run)
      pending = [r for r in self.runs if r.state != "done"]
      running: list[_Run] = []
      while (pending or running) and not (self.signals and not running):
        while pending and len(running) < self.parallel and not self.signals:
          running.append(self._start(pending.pop(0)))
        time.sleep(0.1)
        for run in [r for r in running if r.proc.poll() is not None]:
          running.remove(run)
          self._finish(run)
    finally:
      for s, handler in previous.items():
        signal.signal(s, handler)
      self._write_manifest()
    return self._report()

  def _on_signal(self, signum: int, frame: Any) -> None:
    del frame
    self.signals.append(signum)
    # First signal: the runs checkpoint and exit. Another one: stop waiting for them.
    forward = signum if len(self.signals) == 1 else signal.SIGKILL
    action = "killing" if forward == signal.SIGKILL else "stopping"
    # os.write, not print: the signal may land while print() holds the stream's buffer.
    os.write(sys.stderr.fileno(), f"signal {signum}: {action} runs\n".encode())
    for run in self.runs:
      if run.proc is not None and run.proc.poll() is None:
        try:
          os.killpg(run.proc.pid, forward)
        except ProcessLookupError:
          pass

  def _start(self, run: _Run) -> _Run:
    os.makedirs(run.run_dir, exist_ok=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, env.get("PYTHONPATH")) if p)
    if self.parallel > 1:
      # Several processes that each grab most of an accelerator's memory would fail.
      env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    command = self.command(run)
    with open(os.path.join(run.run_dir, "train.log"), "ab") as log:
      log.write(f"# {time.strftime('%Y-%m-%d %H:%M:%S')} {shlex.join(command)}\n".encode())
      log.flush()
      # A session of its own: a Ctrl-C reaches the run once, through _on_signal.
      run.proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log,
                                  stderr=subprocess.STDOUT, env=env, start_new_session=True)
    logs.write_summaries(run.run_dir, logs.hparams_start(self.domains, run.hparams))
    run.started, run.status = time.monotonic(), "running"
    print(f"start {run.name}" + (f" ({run.state})" if run.state != "new" else ""), flush=True)
    return run

  def _skip(self, run: _Run) -> None:
    run.status = "done"
    self.finished += 1
    print(f"[{self.finished}/{len(self.runs)}] skip {run.name} (done)", flush=True)
    if not any(".hparams" in f for f in os.listdir(run.run_dir)):  # Run before HParams were.
      logs.write_summaries(run.run_dir, [*logs.hparams_start(self.domains, run.hparams),
                                         logs.hparams_end("success")])
    stale = stale_flags(run.run_dir, run.point)
    if stale:
      print(f"  warning: its config has other values for {', '.join(stale)}; delete "
            f"{run.run_dir} to run it again", file=sys.stderr)

  def _finish(self, run: _Run) -> None:
    run.returncode = run.proc.returncode
    run.seconds = time.monotonic() - run.started
    self.finished += 1
    summary = io_utils.read_json(os.path.join(run.run_dir, "summary.json"))
    if run.returncode == 0 and summary is not None:
      run.status = "done"
      detail = _short_results(summary)
    elif self.signals:
      run.status = "interrupted"
      detail = "(run the same command again to resume)"
    else:
      run.status = "failed"
      log = os.path.join(run.run_dir, "train.log")
      detail = f"(exit {run.returncode}: {_last_line(log)}; see {log})"
    if run.status != "interrupted":  # An interrupted trial stays open until it is resumed.
      logs.write_summaries(run.run_dir, [logs.hparams_end(
          "success" if run.status == "done" else "failure")])
    print(f"[{self.finished}/{len(self.runs)}] {run.status} {run.name} in "
          f"{run.seconds:.0f} s {detail}".rstrip(), flush=True)
    self._write_manifest()

  def _write_manifest(self) -> None:
    io_utils.atomic_write_json(os.path.join(self.sweep_dir, "sweep.json"), {
        "name": self.name,
        "doc": self.sweep.doc,
        "grid": {k: [dataclasses.asdict(x) if isinstance(x, Named) else x for x in v]
                 for k, v in self.sweep.grid.items()},
        "base": dict(self.sweep.base),
        "extra": self.extra,
        "points": [r.point for r in self.runs],
        "runs": [{"name": r.name, "run_dir": r.run_dir, "point": r.point,
                  "hparams": r.hparams, "status": r.status,
                  "returncode": r.returncode, "seconds": r.seconds} for r in self.runs],
    })

  def _report(self) -> int:
    failed = [r.name for r in self.runs if r.status == "failed"]
    if failed:
      print(f"{len(failed)} of {len(self.runs)} runs failed: {', '.join(failed)}",
            file=sys.stderr)
      return 1
    if self.signals:
      print(f"interrupted; run the same command again to resume ({self.sweep_dir})",
            file=sys.stderr)
      return 128 + self.signals[0]
    print(f"all {len(self.runs)} runs done in {self.sweep_dir}")
    return 0


def _last_line(path: str) -> str:
  """The last non-empty line of a log, cut to 200 characters."""
  try:
    with open(path, "rb") as f:
      f.seek(max(0, os.path.getsize(path) - 4096))
      lines = [l.strip() for l in f.read().decode(errors="replace").splitlines() if l.strip()]
  except OSError:
    return ""
  return lines[-1][:200] if lines else ""


def _short_results(summary: Mapping[str, Any]) -> str:
  parts = [f"{label} {summary[key]:.4g}" for key, label in (
      ("final_loss", "loss"), ("eval/analogy_accuracy", "analogy"),
      ("eval/wordsim_spearman", "wordsim")) if isinstance(summary.get(key), (int, float))]
  return f"({', '.join(parts)})" if parts else ""


FLAGS = flags.FLAGS
flags.DEFINE_string("sweep_dir", None, "Directory of the sweep's run directories "
                    "(default: runs/sweeps/NAME).")
flags.DEFINE_integer("parallel", 1, "Runs at a time.", lower_bound=1)
flags.DEFINE_bool("dry_run", False, "Print what would run, start nothing.")


def main(argv: Sequence[str]) -> int:
  args = list(argv[1:])
  if args[:1] == ["list"] and len(args) == 1:
    print(grid.describe())
    return 0
  if len(args) < 2 or args[0] != "run":
    return _fail("usage: python -m experiments.launcher list | run NAME [--sweep_dir DIR] "
                 "[--parallel N] [--dry_run] [-- train flags...]")
  name, extra = args[1], args[2:]
  if name not in SWEEPS:
    return _fail(f"unknown sweep {name!r}; known: {', '.join(SWEEPS)}")
  sweep = SWEEPS[name]
  try:
    grid.validate(sweep)
    grid.train_args(sweep, grid.expand(sweep)[0], extra)
  except ValueError as e:
    return _fail(str(e))
  missing = [f for f in sweep.required if f not in grid.flag_names(extra)]
  if missing:
    return _fail(f"sweep {name!r} needs --{missing[0]}; pass it after --")
  absent = [c for c in sweep.base.get("corpus", ()) if not os.path.exists(c)]
  if absent and "corpus" not in grid.flag_names(extra):
    return _fail(f"--corpus={absent[0]}: no such file (run from {ROOT}, or pass --corpus)")
  launcher = Launcher(name, sweep, FLAGS.sweep_dir or os.path.join("runs", "sweeps", name),
                      extra, FLAGS.parallel)
  if FLAGS.dry_run:
    launcher.dry_run()
    return 0
  return launcher.run()


def _fail(message: str) -> int:
  print(f"error: {message}", file=sys.stderr)
  return 2


if __name__ == "__main__":
  app.run(lambda argv: sys.exit(main(argv)))
