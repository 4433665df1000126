r"""Compares runs: a table sorted by a metric, CSV and Markdown copies, and optional plots.

  python -m experiments.compare runs/sweeps/window_ns_dim --plots
  python -m experiments.compare runs/a runs/b --metric final_loss --out /tmp/cmp

A path is a run directory (it holds config.json, status.json or summary.json) or a sweep
directory, whose run directories are one level below. Columns: the run, the flags whose values
differ between runs, status, final loss and accuracy, evaluation metrics, training time and
speed. Runs without summary.json show their status and their last logged loss.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import math
import os
import re
import sys
from collections.abc import Sequence
from typing import Any

from absl import app, flags

from w2v_jax import io_utils  # Imports no JAX (w2v_jax loads it lazily).

_RUN_FILES = ("config.json", "status.json", "summary.json")
_LEAD_RESULTS = ("final_loss", "final_accuracy")
_TAIL_RESULTS = ("train_seconds", "words_per_sec")
# The scores; the other eval/ keys are counts (questions asked, words missing) kept for the CSV.
_HEADLINE_EVALS = ("eval/analogy_accuracy", "eval/wordsim_spearman")


@dataclasses.dataclass(frozen=True)
class Run:
  """One run directory: its resolved config, status and final numbers (None where missing)."""

  name: str
  path: str
  status: str
  config: dict[str, Any]
  results: dict[str, float | None]


def is_run_dir(path: str) -> bool:
  """Whether `path` holds a run's files."""
  return any(os.path.isfile(os.path.join(path, f)) for f in _RUN_FILES)


def find_runs(paths: Sequence[str]) -> list[str]:
  """Run directories: each path that is one, else the run directories one level below it."""
  found = []
  for path in paths:
    if is_run_dir(path):
      found.append(path)
    elif os.path.isdir(path):
      children = (os.path.join(path, n) for n in sorted(os.listdir(path)))
      found.extend(c for c in children if os.path.isdir(c) and is_run_dir(c))
  return list(dict.fromkeys(os.path.normpath(p) for p in found))


def read_metrics(run_dir: str) -> list[dict[str, Any]]:
  """metrics.jsonl's objects; a half-written last line (a live run) is skipped."""
  rows = []
  try:
    with open(os.path.join(run_dir, "metrics.jsonl"), encoding="utf-8") as f:
      for line in f:
        with contextlib.suppress(ValueError):
          rows.append(json.loads(line))
  except OSError:
    pass
  return rows


def _preset(run_dir: str) -> str | None:
  # config.json holds the resolved settings, not which preset they started from.
  try:
    with open(os.path.join(run_dir, "flags.txt"), encoding="utf-8") as f:
      for line in f:
        if line.startswith("--preset="):
          return line.strip().split("=", 1)[1]
  except OSError:
    pass
  return None


def load_run(run_dir: str, name: str | None = None) -> Run:
  """Reads summary.json, else config.json, status.json and the last lines of metrics.jsonl."""
  summary = io_utils.read_json(os.path.join(run_dir, "summary.json"))
  if isinstance(summary, dict):
    config = dict(summary.get("config")
                  or io_utils.read_json(os.path.join(run_dir, "config.json")) or {})
    results = {k: v for k, v in summary.items()
               if k in _LEAD_RESULTS + _TAIL_RESULTS or k.startswith("eval/")}
    status = summary.get("status", "done")
  else:
    config = dict(io_utils.read_json(os.path.join(run_dir, "config.json")) or {})
    status_file = io_utils.read_json(os.path.join(run_dir, "status.json"))
    status = status_file.get("status", "unknown") if isinstance(status_file, dict) else "unknown"
    results = {}
    for row in read_metrics(run_dir):
      results.update({k: v for k, v in row.items() if k.startswith("eval/")})
      if "loss" in row:
        results["final_loss"], results["final_accuracy"] = row["loss"], row.get("accuracy")
  if "preset" not in config and (preset := _preset(run_dir)) is not None:
    config["preset"] = preset
  results = {k: _number(v) for k, v in results.items()}
  return Run(name or os.path.basename(os.path.normpath(run_dir)), run_dir, status, config,
             results)


def _number(value: Any) -> float | None:
  if isinstance(value, bool) or not isinstance(value, (int, float)):
    return None
  return None if math.isnan(value) else value


def load_runs(run_dirs: Sequence[str]) -> list[Run]:
  """Runs named by directory; by their path below the common parent where names clash."""
  names = [os.path.basename(os.path.normpath(d)) for d in run_dirs]
  if len(set(names)) < len(names):
    common = os.path.commonpath([os.path.abspath(d) for d in run_dirs])
    names = [os.path.relpath(os.path.abspath(d), common) for d in run_dirs]
  return [load_run(d, n) for d, n in zip(run_dirs, names)]


def varying_flags(runs: Sequence[Run], order: Sequence[str] = ()) -> list[str]:
  """Config keys whose values differ between runs; `order` first, then alphabetical."""
  keys = {k for r in runs for k in r.config}
  varying = {k for k in keys
             if len({json.dumps(r.config.get(k), sort_keys=True) for r in runs}) > 1}
  first = [k for k in dict.fromkeys(order) if k in varying]
  return first + sorted(varying - set(first))


def name_order(runs: Sequence[Run]) -> list[str]:
  """Flag names in the order run names (`window_size=2,num_ns=5`) spell them."""
  keys = []
  for run in runs:
    keys += [part.split("=", 1)[0] for part in run.name.split(",") if "=" in part]
  return list(dict.fromkeys(keys))


def result_keys(runs: Sequence[Run], metric: str | None = None, wide: bool = False
                ) -> list[str]:
  """Result columns: loss and accuracy, eval scores (all eval keys if `wide`), time, speed."""
  evals = sorted({k for r in runs for k in r.results if k.startswith("eval/")
                  and (wide or k in _HEADLINE_EVALS or k == metric)})
  extra = [metric] if metric and metric not in (*_LEAD_RESULTS, *evals, *_TAIL_RESULTS) else []
  return [*_LEAD_RESULTS, *evals, *extra, *_TAIL_RESULTS]


def sort_runs(runs: Sequence[Run], metric: str, ascending: bool = False) -> list[Run]:
  """By `metric` (best first for the given direction); runs without it last, by name."""
  def key(run: Run) -> tuple[bool, float, str]:
    value = run.results.get(metric)
    if value is None:
      return (True, 0.0, run.name)
    return (False, value if ascending else -value, run.name)
  return sorted(runs, key=key)


def table(runs: Sequence[Run], metric: str, ascending: bool = False, wide: bool = False
          ) -> tuple[list[str], list[list[Any]]]:
  """Column names and one row per run, sorted by `metric`."""
  flag_columns = varying_flags(runs, name_order(runs))
  results = result_keys(runs, metric, wide)
  columns = ["run", *flag_columns, "status", *results]
  rows = [[r.name, *(r.config.get(k) for k in flag_columns), r.status,
           *(r.results.get(k) for k in results)]
          for r in sort_runs(runs, metric, ascending)]
  return columns, rows


def _cell(value: Any) -> str:
  if value is None:
    return ""
  if isinstance(value, bool):
    return str(value).lower()
  if isinstance(value, (list, tuple)):
    return ";".join(_cell(v) for v in value)
  if isinstance(value, float):
    return repr(value)
  return str(value)


def _pretty(value: Any) -> str:
  if isinstance(value, float) and not isinstance(value, bool):
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
  return _cell(value) or "-"


def to_csv(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
  """CSV with full-precision numbers, empty cells for missing values."""
  out = io.StringIO()
  writer = csv.writer(out, lineterminator="\n")
  writer.writerow(columns)
  writer.writerows([_cell(v) for v in row] for row in rows)
  return out.getvalue()


def to_markdown(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
  """A padded Markdown table (readable as plain text too); numbers right-aligned."""
  cells = [[_pretty(v).replace("|", "\\|") for v in row] for row in rows]
  numeric = [all(isinstance(row[i], (int, float)) and not isinstance(row[i], bool)
                 or row[i] is None for row in rows) and bool(rows) for i in range(len(columns))]
  widths = [max([len(c), 3, *(len(row[i]) for row in cells)]) for i, c in enumerate(columns)]

  def line(values: Sequence[str]) -> str:
    padded = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)]
    return "| " + " | ".join(padded) + " |"

  rule = "|" + "|".join(("-" * (w + 1) + ":") if num else ("-" * (w + 2))
                        for w, num in zip(widths, numeric)) + "|"
  return "\n".join([line(columns), rule, *(line(row) for row in cells)]) + "\n"


def write_tables(runs: Sequence[Run], metric: str, ascending: bool, out_dir: str) -> list[str]:
  """compare.csv (every result) and compare.md (the headline ones) in `out_dir`."""
  paths = []
  for name, text in (("compare.csv", to_csv(*table(runs, metric, ascending, wide=True))),
                     ("compare.md", to_markdown(*table(runs, metric, ascending)))):
    path = os.path.join(out_dir, name)
    with io_utils.atomic_open(path, "w", encoding="utf-8", newline="") as f:
      f.write(text)
    paths.append(path)
  return paths


def _save(fig: Any, path: str) -> str:
  with io_utils.atomic_open(path, "wb") as f:
    fig.savefig(f, format="png", dpi=100, bbox_inches="tight")
  return path


def _legend(fig: Any, axes: Sequence[Any], count: int) -> None:
  """One legend right of the figure, from the first axes with lines; none past 30 runs."""
  for ax in axes:
    handles, labels = ax.get_legend_handles_labels()
    if count <= 30 and handles:
      fig.legend(handles, labels, fontsize="x-small", loc="center left",
                 bbox_to_anchor=(0.9, 0.5))
      return


def plot_curves(runs: Sequence[Run], out_dir: str, metric: str | None = None) -> list[str]:
  """loss.png (training loss per run) and eval.png (eval scores per run), from metrics.jsonl."""
  from matplotlib.figure import Figure  # pylint: disable=import-outside-toplevel

  histories = {r.name: read_metrics(r.path) for r in runs}
  paths = []
  fig = Figure(figsize=(9, 5))
  ax = fig.add_subplot()
  for name, rows in histories.items():
    # Epochs, not steps: runs with wider windows take more steps per pass.
    points = [(m.get("epoch", m.get("step")), m["loss"]) for m in rows
              if m.get("loss") is not None]
    if points:
      ax.plot(*zip(*points), label=name, linewidth=1)
  ax.set(xlabel="epoch", ylabel="training loss", title="Training loss")
  _legend(fig, [ax], len(runs))
  paths.append(_save(fig, os.path.join(out_dir, "loss.png")))

  keys = sorted({k for rows in histories.values() for m in rows for k in m
                 if k in _HEADLINE_EVALS or (k == metric and k.startswith("eval/"))})
  if keys:
    fig = Figure(figsize=(5.5 * len(keys), 4.5))
    axes = fig.subplots(1, len(keys), squeeze=False)[0]
    for ax, key in zip(axes, keys):
      for name, rows in histories.items():
        points = [(m.get("epoch", m.get("step")), m[key]) for m in rows
                  if m.get(key) is not None]
        if points:
          ax.plot(*zip(*points), marker="o", label=name, linewidth=1)
      ax.set(xlabel="epoch", title=key)
    _legend(fig, axes, len(runs))
    paths.append(_save(fig, os.path.join(out_dir, "eval.png")))
  return paths


def plot_by_flag(runs: Sequence[Run], metric: str, out_dir: str) -> list[str]:
  """`<metric>_by_flag.png`: the metric against each swept flag (runs as dots, means joined)."""
  from matplotlib.figure import Figure  # pylint: disable=import-outside-toplevel

  flag_names = varying_flags(runs, name_order(runs))
  # A preset switch changes a dozen settings at once; plot the flags the run names spell out.
  swept = [f for f in name_order(runs) if f in flag_names]
  flag_names = swept or flag_names
  scored = [r for r in runs if r.results.get(metric) is not None]
  if not flag_names or not scored:
    return []
  fig = Figure(figsize=(4.5 * len(flag_names), 4))
  axes = fig.subplots(1, len(flag_names), squeeze=False)[0]
  for ax, flag in zip(axes, flag_names):
    values = sorted({_cell(r.config.get(flag)) for r in scored},
                    key=lambda v: (_as_float(v) is None, _as_float(v) or 0.0, v))
    position = {v: i for i, v in enumerate(values)}
    xs = [position[_cell(r.config.get(flag))] for r in scored]
    ys = [r.results[metric] for r in scored]
    ax.scatter(xs, ys, alpha=0.5, s=18)
    means = [sum(y for x, y in zip(xs, ys) if x == i) / xs.count(i) for i in range(len(values))]
    ax.plot(range(len(values)), means, marker="D", color="black", label="mean")
    ax.set_xticks(range(len(values)), [v or "-" for v in values])
    ax.set(xlabel=flag)
  axes[0].set_ylabel(metric)
  axes[0].legend(fontsize="small")
  fig.suptitle(f"{metric} by flag ({len(scored)} runs)")
  stem = re.sub(r"[^A-Za-z0-9._-]", "_", metric.split("/")[-1])
  return [_save(fig, os.path.join(out_dir, f"{stem}_by_flag.png"))]


# What a seed summary reports: both analogy scores, since a vocabulary change moves the first.
SEED_METRICS = ("eval/analogy_accuracy", "eval/analogy_accuracy_all", "eval/wordsim_spearman")


def seed_groups(runs: Sequence[Run]) -> dict[str, list[Run]]:
  """Runs that differ only in their seed, by their name without `seed=N`, in run order."""
  groups: dict[str, list[Run]] = {}
  for run in runs:
    parts = [p for p in run.name.split(",") if not p.startswith("seed=")]
    groups.setdefault(",".join(parts) or "base", []).append(run)
  return groups


def seed_table(groups: dict[str, list[Run]], metrics: Sequence[str] = SEED_METRICS
               ) -> tuple[list[str], list[list[Any]]]:
  """One row per group: the number of scored seeds, then mean, min and max of each metric."""
  columns = ["group", "seeds"] + [f"{m.split('/')[-1]} {s}" for m in metrics
                                  for s in ("mean", "min", "max")]
  rows = []
  for label, runs in groups.items():
    row: list[Any] = [label, sum(r.results.get(metrics[0]) is not None for r in runs)]
    for metric in metrics:
      values = [r.results[metric] for r in runs if r.results.get(metric) is not None]
      row += [sum(values) / len(values), min(values), max(values)] if values else [None] * 3
    rows.append(row)
  return columns, rows


def plot_seed_groups(groups: dict[str, list[Run]], out_dir: str,
                     metrics: Sequence[str] = SEED_METRICS) -> list[str]:
  """seeds.png: each metric per group, every seed a dot, the means joined, in group order."""
  from matplotlib.figure import Figure  # pylint: disable=import-outside-toplevel

  labels = list(groups)
  fig = Figure(figsize=(5 * len(metrics), 4.5 + 0.09 * max(map(len, labels))))
  axes = fig.subplots(1, len(metrics), squeeze=False)[0]
  for ax, metric in zip(axes, metrics):
    means = []
    for i, label in enumerate(labels):
      values = [r.results[metric] for r in groups[label] if r.results.get(metric) is not None]
      ax.scatter([i] * len(values), values, s=14, alpha=0.6, color="tab:blue")
      means.append(sum(values) / len(values) if values else float("nan"))
    ax.plot(range(len(labels)), means, marker="D", color="black", label="mean over seeds")
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize="small")
    ax.set(title=metric.split("/")[-1])
    ax.grid(axis="y", alpha=0.3)
  axes[0].legend(fontsize="small")
  return [_save(fig, os.path.join(out_dir, "seeds.png"))]


def _as_float(text: str) -> float | None:
  try:
    return float(text)
  except ValueError:
    return None


def resolve_metric(runs: Sequence[Run], metric: str) -> str:
  """`metric`, or `eval/<metric>` when only that one exists."""
  known = {k for r in runs for k in r.results}
  if metric not in known and f"eval/{metric}" in known:
    return f"eval/{metric}"
  return metric


FLAGS = flags.FLAGS
flags.DEFINE_string("metric", "eval/analogy_accuracy", "Result to sort and plot by.")
flags.DEFINE_bool("ascending", None, "Smallest first (default: only for metrics named *loss*).")
flags.DEFINE_string("out", None, "Where compare.csv/.md and plots go "
                    "(default: the sweep directory given, else the current directory).")
flags.DEFINE_bool("plots", False, "Also draw PNGs (needs matplotlib).")
flags.DEFINE_bool("over_seeds", False, "Also summarise runs that differ only in their seed: "
                  "seeds.md/.csv (mean, min, max per group) and, with --plots, seeds.png.")


def main(argv: Sequence[str]) -> int:
  paths = list(argv[1:])
  if not paths:
    return _fail("give run directories or sweep directories")
  missing = [p for p in paths if not os.path.isdir(p)]
  if missing:
    return _fail(f"{missing[0]}: no such directory")
  if FLAGS.plots and not _has_matplotlib():
    return _fail("--plots needs matplotlib: pip install matplotlib (or the [plot] extra)")
  run_dirs = find_runs(paths)
  if not run_dirs:
    return _fail(f"no run directories (with config.json) in {', '.join(paths)}")
  runs = load_runs(run_dirs)
  metric = resolve_metric(runs, FLAGS.metric)
  if not any(r.results.get(metric) is not None for r in runs):
    print(f"warning: no run has {metric}; sorted by name", file=sys.stderr)
  ascending = FLAGS.ascending if FLAGS.ascending is not None else "loss" in metric
  print(to_markdown(*table(runs, metric, ascending)), end="")
  sweep_dir = len(paths) == 1 and not is_run_dir(paths[0])
  out_dir = FLAGS.out or (paths[0] if sweep_dir else os.getcwd())
  written = write_tables(runs, metric, ascending, out_dir)
  if FLAGS.plots:
    written += plot_curves(runs, out_dir, metric) + plot_by_flag(runs, metric, out_dir)
  if FLAGS.over_seeds:
    groups = seed_groups(runs)
    summary = seed_table(groups)
    print(to_markdown(*summary), end="")
    for name, text in (("seeds.csv", to_csv(*summary)), ("seeds.md", to_markdown(*summary))):
      with io_utils.atomic_open(os.path.join(out_dir, name), "w", encoding="utf-8",
                                newline="") as f:
        f.write(text)
      written.append(os.path.join(out_dir, name))
    if FLAGS.plots:
      written += plot_seed_groups(groups, out_dir)
  print(f"{len(runs)} runs; wrote {', '.join(written)}")
  return 0


def _has_matplotlib() -> bool:
  try:
    import matplotlib  # pylint: disable=import-outside-toplevel,unused-import
  except ImportError:
    return False
  return True


def _fail(message: str) -> int:
  print(f"error: {message}", file=sys.stderr)
  return 2


if __name__ == "__main__":
  app.run(lambda argv: sys.exit(main(argv)))
