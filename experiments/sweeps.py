r"""Sweeps as data: named grids of train flags, and a launcher that runs one process per point.

  python -m experiments.sweeps list
  python -m experiments.sweeps run window_ns_dim --sweep_dir runs/sweeps/window_ns_dim --parallel 2
  python -m experiments.sweeps run tiny --sweep_dir /tmp/tiny --dry_run -- --corpus tiny.txt

Everything after `--` is passed to every `experiments.train` run and replaces a base flag of the
same name (absl stops parsing at `--`, which keeps the launcher's own flags apart from the train
flags it forwards). Each point runs in `SWEEP_DIR/<run_name>` with its output in `train.log`;
finished points are skipped, interrupted ones resumed, so running the same command again
continues a sweep. SIGINT/SIGTERM are forwarded to the runs (they checkpoint), then the launcher
exits with 128 + signal; a second signal kills them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

from absl import app, flags

from w2v_jax import logs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

Value = int | float | str | bool
Point = dict[str, Value]
# Flags set together by one grid value, e.g. {"hs": True, "num_ns": 0}: an axis of such groups
# sweeps settings that only make sense jointly.
Group = Mapping[str, Value]


@dataclasses.dataclass(frozen=True)
class Named:
  """A group of flags known by a label: its runs are named, and shown in HParams, as AXIS=label.

  For groups of many flags, such as the cumulative steps of an ablation, whose flag values would
  make unreadable run names and too many HParams columns.
  """

  label: str
  flags: Group


@dataclasses.dataclass(frozen=True)
class Sweep:
  """A grid over train flags: `doc` (command, runtime, what it shows), shared `base` flags.

  A grid axis lists values of the flag it is named after, or groups of flags (the axis name is
  then only a label).
  """

  doc: str
  grid: Mapping[str, Sequence[Value | Group | Named]]
  base: Mapping[str, Any] = dataclasses.field(default_factory=dict)
  required: tuple[str, ...] = ()  # Flags the user must pass after `--` (e.g. a corpus path).


def cumulative(steps: Sequence[tuple[str, Mapping[str, Value]]]) -> list[Named]:
  """Named groups applying `steps` one after another: the first step's flags are the start, and
  every group sets every flag any step changes (an axis's groups must set the same flags)."""
  current: Point = {}
  for _, change in steps:
    current.update({k: v for k, v in change.items() if k not in current})
  groups = []
  for label, change in steps:
    current.update(change)
    groups.append(Named(label, dict(current)))
  return groups


# The ablation from the seed notebook to word2vec, one change at a time (docs/sweeps/
# seed_to_word2vec/README.md says why in this order). Each row trains on about the same budget
# of positive pairs, B = 56.6M (two epochs of the word2vec recipe on the bench corpus): epochs =
# round(B / the row's pairs per epoch), from the counts in that README (0.98-1.08 B).
_SEED_TO_WORD2VEC = cumulative([
    ("0_seed", {"fixed_training_set": True, "repeat_batch_order": True, "drop_remainder": True,
                "shuffle": "piece", "sequence_length": 10, "reserved_tokens": True,
                "negatives": "log_uniform", "subsampling": "zipf", "subsample": 1e-5,
                "window_size": 2, "dynamic_window": False, "loss": "softmax", "num_ns": 4,
                "optimizer": "adam", "learning_rate": 1e-3, "linear_decay": False,
                "init": "keras", "max_vocab": 4096, "min_count": 1, "standardize": "seed",
                "tie_break": "descending", "embedding_dim": 128, "epochs": 45}),
    # The data set is redrawn (subsampling, windows, negatives) and reshuffled every epoch.
    ("1_redrawn", {"fixed_training_set": False, "repeat_batch_order": False,
                   "drop_remainder": False, "shuffle": "corpus", "epochs": 45}),
    ("2_whole_lines", {"sequence_length": 0, "epochs": 20}),
    ("3_no_pad_unk", {"reserved_tokens": False, "epochs": 20}),
    ("4_unigram_negatives", {"negatives": "unigram", "epochs": 20}),
    ("5_w2v_subsampling", {"subsampling": "word2vec", "subsample": 1e-3, "epochs": 4}),
    ("6_dynamic_window_5", {"window_size": 5, "dynamic_window": True, "epochs": 3}),
    ("7_sigmoid_ns", {"loss": "sigmoid", "num_ns": 5, "epochs": 3}),
    ("8_sgd_decay", {"optimizer": "sgd", "learning_rate": 0.025, "linear_decay": True,
                     "init": "word2vec", "epochs": 3}),
    # word2vec's vocabulary: min_count 5, its text normalisation and tie order; dim 100.
    ("9_min_count_5", {"max_vocab": 0, "min_count": 5, "standardize": "unicode",
                       "tie_break": "ascending", "embedding_dim": 100, "epochs": 2}),
])

# A log file is no place for a progress bar.
_QUIET = {"progress": False}
# Sweeps measured before replicas existed keep one model, so their documented numbers stand and
# their comparisons carry no merge effects; `merge_interval` sweeps the replicas.
_ONE_MODEL = {"replicas": 1}

SWEEPS: dict[str, Sweep] = {
    "window_ns_dim": Sweep(
        doc="""\
./launch.sh sweep window_ns_dim --parallel 1
27 runs (window 2/5/10 x negatives 2/5/15 x dim 50/100/200), 5 epochs each on the 1M-word
small corpus: 5-90 s per run on 2 CPU cores, about 10 minutes in all.
Shows what context width, negatives and vector size buy on analogies and WordSim-353, and what
they cost in words/s. Measured: analogy accuracy 0.015 (window 2, 2 negatives) to 0.041 (window
10, 15 negatives), WordSim Spearman 0.13 to 0.37, both rising with window and negatives;
dim barely matters at 1M words (`./launch.sh compare runs/sweeps/window_ns_dim --plots`).""",
        base={"corpus": ["../shared/data/small-corpus.txt.gz"], "eval_every_epoch": True,
              **_QUIET, **_ONE_MODEL},
        grid={"window_size": [2, 5, 10], "num_ns": [2, 5, 15], "embedding_dim": [50, 100, 200]},
    ),
    "preset_compare": Sweep(
        doc="""\
./launch.sh sweep preset_compare [--corpus FILE]
2 runs: the word2vec recipe (5 epochs) against the seed notebook's recipe (80 epochs, 10-token
lines, 4,096 words), each as its preset defines it, on the bundled KJV unless --corpus is given:
under a minute on 2 CPU cores.
Shows what the two recipes trade. Measured on the KJV: word2vec 0.076 analogy accuracy, 0.19
WordSim Spearman in 11 s; seed 0.063 and 0.48 in 28 s (few WordSim pairs are in the KJV).""",
        base=dict(_QUIET),
        grid={"preset": ["word2vec", "seed"]},
    ),
    "batch_shared": Sweep(
        doc="""\
./launch.sh sweep batch_shared --parallel 1
8 runs (batch 256/1024/4096/16384 x shared negatives off/64), word2vec preset, 5 epochs on the
1M-word small corpus: 10-40 s per run on 2 CPU cores, about 4 minutes in all.
Shows how the batch size and BlazingText-style shared negatives trade speed (words/s) against
quality (analogy accuracy, WordSim-353): the measurement behind the default batch of 1024.""",
        base={"corpus": ["../shared/data/small-corpus.txt.gz"], **_QUIET, **_ONE_MODEL},
        grid={"batch_size": [256, 1024, 4096, 16384], "shared_negatives": [0, 64]},
    ),
    "tiny": Sweep(
        doc="""\
./launch.sh sweep tiny --sweep_dir /tmp/tiny --corpus TINY.txt
4 runs (window 1/2 x dim 8/16), 1 epoch, min_count 1 on a corpus of a few hundred words: a few
seconds per run, most of it start-up and compilation.
Shows that the sweep machinery works end to end (used by tests/test_sweep_e2e.py).""",
        base={"epochs": 1, "min_count": 1, "batch_size": 64, "steps_per_call": 2,
              "log_every": 4, **_QUIET},
        grid={"window_size": [1, 2], "embedding_dim": [8, 16]},
        required=("corpus",),
    ),
    "family": Sweep(
        doc="""\
./launch.sh sweep family --parallel 1
12 runs (model skip-gram/CBOW x output: 5 negatives, or hierarchical softmax with none x seed
1/2/3), word2vec preset, 5 epochs on the bench corpus.
Runtime: ~45 min on 2 cores, AMD EPYC (12 runs; sg-ns ~2.5 min each, sg-hs ~6-9 min).
Shows what the four members of the word2vec family (sg-ns, cbow-ns, sg-hs, cbow-hs) score on
analogies and WordSim-353, with the spread over seeds.
Expected (medians of the same runs in benchmarks/quality.py, analogy / WS353): sg-ns .209 / .59,
cbow-ns .177 / .47, sg-hs .199 / .65, cbow-hs .165 / .58: skip-gram beats CBOW on analogies,
hierarchical softmax gives the better similarities.""",
        base={"corpus": ["../shared/data/bench-corpus.txt.gz"], "epochs": 5, **_QUIET,
              **_ONE_MODEL},
        # Seeds outermost: a sweep stopped part-way has every combination at equal seeds.
        grid={"seed": [1, 2, 3],
              "model": ["skipgram", "cbow"],
              "output": [{"hs": False, "num_ns": 5}, {"hs": True, "num_ns": 0}]},
    ),
    "merge_interval": Sweep(
        doc="""\
./launch.sh sweep merge_interval --parallel 1
6 runs: one model, then 2 replicas merged by sum every 64/256/1024/4096 steps, and by mean
every 256; sg-ns, word2vec preset, 5 epochs on the bench corpus, seed 1. ~15 min on 2 cores.
Shows what the merge interval costs in quality and buys in speed. Measured (AMD EPYC, analogy /
WS353, train s): one model .209/.573 119 s; sum every 64 .217/.608 192 s; 256 .209/.611 118 s;
1024 .201/.582 119 s; 4096 .171/.574 108 s; mean every 256 .170/.473 106 s: the default is sum
every 256, gensim's quality at the speed of rarer merges.""",
        base={"corpus": ["../shared/data/bench-corpus.txt.gz"], "epochs": 5, **_QUIET},
        grid={"seed": [1],
              "merging": [{"replicas": 1, "sync_every": 0, "merge": "sum"},
                           {"replicas": 2, "sync_every": 64, "merge": "sum"},
                           {"replicas": 2, "sync_every": 256, "merge": "sum"},
                           {"replicas": 2, "sync_every": 1024, "merge": "sum"},
                           {"replicas": 2, "sync_every": 4096, "merge": "sum"},
                           {"replicas": 2, "sync_every": 256, "merge": "mean"}]},
    ),
    "seed_to_word2vec": Sweep(
        doc="""\
./launch.sh sweep seed_to_word2vec
30 runs (seed 1/2/3 x 10 cumulative changes from the faithful seed notebook to the word2vec
recipe), on the bench corpus, each on a budget of ~57M positive pairs (two word2vec epochs).
Runtime: ~2 h 15 min on 2 cores, AMD EPYC, measured with other jobs on the machine (Adam rows
3-6 min each, SGD rows ~1.5 min).
Shows which of the notebook's choices cost the most: analogy accuracy (in-vocabulary questions
and all 19,544) and WordSim-353 after each change, with the spread over seeds.
Expected (means of 3 seeds, in-vocabulary analogy / all questions / WS353): faithful seed
.027 / .002 / .31; redrawn every epoch .27 / .022 / .50; word2vec recipe at 4,096 words
.49 / .040 / .62, at min_count 5 .13 / .070 / .44 (harder questions and pairs).
Report: docs/sweeps/seed_to_word2vec/README.md.""",
        base={"corpus": ["../shared/data/bench-corpus.txt.gz"], "preset": "seed",
              "batch_size": 1024, **_QUIET, **_ONE_MODEL},
        # Seeds outermost: a sweep stopped part-way has every change at equal seeds.
        grid={"seed": [1, 2, 3], "change": _SEED_TO_WORD2VEC},
    ),
}


def _flags_of(axis: str, value: Value | Group | Named) -> Point:
  """The flags one grid value sets: a group's own, or the flag the axis is named after."""
  if isinstance(value, Named):
    return dict(value.flags)
  return dict(value) if isinstance(value, Mapping) else {axis: value}


def _hparams_of(axis: str, value: Value | Group | Named) -> Point:
  """What one grid value shows in run names and HParams: a named group's label, else its flags."""
  return {axis: value.label} if isinstance(value, Named) else _flags_of(axis, value)


def swept_flags(sweep: Sweep) -> list[str]:
  """Every flag the grid sets, in declared order."""
  names = {}
  for axis, values in sweep.grid.items():
    for value in values:
      names.update(dict.fromkeys(_flags_of(axis, value)))
  return list(names)


def validate(sweep: Sweep) -> None:
  """Raises ValueError on an empty or repeating axis, mixed groups, or a flag set twice."""
  owner = {}
  for axis, values in sweep.grid.items():
    if not values:
      raise ValueError(f"grid flag {axis!r} has no values")
    if len({run_name(_hparams_of(axis, v)) for v in values}) != len(values):
      raise ValueError(f"grid flag {axis!r} repeats a value: {list(values)}")
    names = [list(_flags_of(axis, v)) for v in values]
    if any(n != names[0] for n in names):
      raise ValueError(f"grid axis {axis!r} mixes groups of different flags: {list(values)}")
    if any(isinstance(v, Named) for v in values) and not all(isinstance(v, Named)
                                                                for v in values):
      raise ValueError(f"grid axis {axis!r} mixes named groups and other values")
    for name in names[0]:
      if name in sweep.base:
        raise ValueError(f"flag {name!r} is both swept and a base flag")
      if owner.setdefault(name, axis) != axis:
        raise ValueError(f"flag {name!r} is swept by two grid axes: {owner[name]!r}, {axis!r}")


def expand(sweep: Sweep, of=_flags_of) -> list[Point]:
  """The cartesian product of the grid, groups flattened; the first axis varies slowest.

  `of(axis, value)` says what a grid value contributes: its flags, or (`_hparams_of`) what the
  run is named and shown by.
  """
  points = []
  for values in itertools.product(*sweep.grid.values()):
    point = {}
    for axis, value in zip(sweep.grid, values):
      point.update(of(axis, value))
    points.append(point)
  return points


def hparams(sweep: Sweep) -> list[Point]:
  """Each point's swept values as named in run names and TensorBoard's HParams."""
  return expand(sweep, _hparams_of)


def hparam_domains(sweep: Sweep) -> dict[str, list[Value]]:
  """Every hyperparameter the sweep varies (flags, or named groups' axes), with its values."""
  domains: dict[str, list[Value]] = {}
  for point in hparams(sweep):
    for name, value in point.items():
      if value not in domains.setdefault(name, []):
        domains[name].append(value)
  return domains


def _format_value(value: Value) -> str:
  if isinstance(value, bool):
    return str(value).lower()
  if isinstance(value, float):
    return repr(value)
  return str(value)


def run_name(point: Point) -> str:
  """`window_size=2,num_ns=5`: stable, and safe as a single path component."""
  if not point:
    return "base"
  raw = ",".join(f"{k}={_format_value(v)}" for k, v in point.items())
  name = re.sub(r"[^A-Za-z0-9._=,+-]", "_", raw)
  if name != raw or len(name) > 200:
    # Keeps two values that sanitise alike (a/b, a_b) in different directories.
    name = name[:200] + "-" + hashlib.sha1(raw.encode()).hexdigest()[:8]
  return name


def to_flags(values: Mapping[str, Any]) -> list[str]:
  """absl command-line flags: bools as --x/--nox, lists as a repeated flag, None left out."""
  args = []
  for name, value in values.items():
    if value is None:
      continue
    if isinstance(value, bool):
      args.append(f"--{name}" if value else f"--no{name}")
    elif isinstance(value, (list, tuple)):
      args.extend(f"--{name}={_format_value(v)}" for v in value)
    else:
      args.append(f"--{name}={_format_value(value)}")
  return args


def flag_names(args: Sequence[str], known: Sequence[str] = ()) -> set[str]:
  """Names of the flags in `args`; `--noX` counts as X when X is in `known`."""
  names = set()
  for arg in args:
    if arg.startswith("--") and len(arg) > 2:
      name = arg[2:].split("=", 1)[0]
      names.add(name[2:] if name.startswith("no") and name[2:] in known else name)
  return names


def train_args(sweep: Sweep, point: Point, extra: Sequence[str]) -> list[str]:
  """Base flags (minus those `extra` replaces), the point's flags, then `extra`."""
  swept_names = swept_flags(sweep)
  given = flag_names(extra, [*sweep.base, *swept_names])
  swept = sorted(given & set(swept_names))
  if swept:
    raise ValueError(f"--{swept[0]} is swept by this grid; it cannot be passed after --")
  base = {k: v for k, v in sweep.base.items() if k not in given}
  return [*to_flags(base), *to_flags(point), *extra]


def run_state(run_dir: str) -> str:
  """'done' (summary.json says so), 'resume' (a checkpoint exists), 'restart' or 'new'."""
  summary = _read_json(os.path.join(run_dir, "summary.json"))
  if summary is not None and summary.get("status") == "done":
    return "done"
  checkpoints = os.path.join(run_dir, "checkpoints")
  if os.path.isdir(checkpoints) and os.listdir(checkpoints):
    return "resume"
  return "restart" if os.path.exists(os.path.join(run_dir, "config.json")) else "new"


def stale_flags(run_dir: str, point: Point) -> list[str]:
  """Swept flags whose value in a finished run's config differs from the point's."""
  summary = _read_json(os.path.join(run_dir, "summary.json")) or {}
  config = summary.get("config", {})
  return [k for k, v in point.items() if k in config and config[k] != v]


def _read_json(path: str) -> dict[str, Any] | None:
  try:
    with open(path, encoding="utf-8") as f:
      return json.load(f)
  except (OSError, ValueError):
    return None


def _write_json(path: str, obj: Any) -> None:
  tmp = f"{path}.{os.getpid()}.tmp"
  with open(tmp, "w", encoding="utf-8") as f:
    json.dump(obj, f, indent=2)
    f.write("\n")
  os.replace(tmp, path)


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
    self.runs = [_Run(i, run_name(h), p, h, os.path.join(sweep_dir, run_name(h)),
                      run_state(os.path.join(sweep_dir, run_name(h))))
                 for i, (p, h) in enumerate(zip(expand(sweep), hparams(sweep)))]
    self.domains = hparam_domains(sweep)
    self.signals: list[int] = []
    self.finished = 0

  def command(self, run: _Run) -> list[str]:
    resume = ["--resume"] if run.state == "resume" else []
    return [*self.program, f"--out_dir={run.run_dir}",
            *train_args(self.sweep, run.point, self.extra), *resume]

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
    summary = _read_json(os.path.join(run.run_dir, "summary.json"))
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
    _write_json(os.path.join(self.sweep_dir, "sweep.json"), {
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


def _describe_value(value: Value | Group | Named) -> str:
  if isinstance(value, Named):
    return value.label
  if isinstance(value, Mapping):
    return "(" + ",".join(f"{k}={_format_value(v)}" for k, v in value.items()) + ")"
  return _format_value(value)


def describe() -> str:
  """One paragraph per sweep: name, size and its doc."""
  blocks = []
  for name, sweep in SWEEPS.items():
    grid = " x ".join(f"{k} {{{', '.join(map(_describe_value, v))}}}"
                      for k, v in sweep.grid.items())
    doc = "\n".join("    " + line for line in sweep.doc.splitlines())
    blocks.append(f"{name}: {len(expand(sweep))} runs: {grid}\n{doc}")
  return "\n\n".join(blocks)


FLAGS = flags.FLAGS
flags.DEFINE_string("sweep_dir", None, "Directory of the sweep's run directories "
                    "(default: runs/sweeps/NAME).")
flags.DEFINE_integer("parallel", 1, "Runs at a time.", lower_bound=1)
flags.DEFINE_bool("dry_run", False, "Print what would run, start nothing.")


def main(argv: Sequence[str]) -> int:
  args = list(argv[1:])
  if args[:1] == ["list"] and len(args) == 1:
    print(describe())
    return 0
  if len(args) < 2 or args[0] != "run":
    return _fail("usage: python -m experiments.sweeps list | run NAME [--sweep_dir DIR] "
                 "[--parallel N] [--dry_run] [-- train flags...]")
  name, extra = args[1], args[2:]
  if name not in SWEEPS:
    return _fail(f"unknown sweep {name!r}; known: {', '.join(SWEEPS)}")
  sweep = SWEEPS[name]
  try:
    validate(sweep)
    train_args(sweep, expand(sweep)[0], extra)
  except ValueError as e:
    return _fail(str(e))
  missing = [f for f in sweep.required if f not in flag_names(extra)]
  if missing:
    return _fail(f"sweep {name!r} needs --{missing[0]}; pass it after --")
  absent = [c for c in sweep.base.get("corpus", ()) if not os.path.exists(c)]
  if absent and "corpus" not in flag_names(extra):
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
