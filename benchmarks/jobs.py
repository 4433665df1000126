"""Running a benchmark's jobs: each system with each combination, repeated with alternating order,
and the command-line flags the benchmark scripts share."""

from __future__ import annotations

import argparse
import os
import platform
import sys
from typing import NamedTuple

from benchmarks import systems


class Job(NamedTuple):
  """One system trained with one combination; `label` names its runs in the results."""

  combo: str
  label: str
  worker: str  # A key of systems.WORKERS.
  extra: dict  # The worker's own options; "flags": more w2v_jax flags for this job alone.


def run_jobs(jobs: list[Job], flags: dict, repeats: int) -> dict[str, dict[str, list[dict]]]:
  """Reports by combination and label; repeat r uses seed r + 1, every other one in reverse order.

  Alternating the order makes drift in the machine's load hit every job alike.
  """
  runs: dict[str, dict[str, list[dict]]] = {}
  for job in jobs:
    runs.setdefault(job.combo, {})[job.label] = []
  for r in range(repeats):
    for job in jobs if r % 2 == 0 else jobs[::-1]:
      print(f"[{r + 1}/{repeats}] training {job.label} ({job.combo}) ...", file=sys.stderr,
            flush=True)
      job_flags = {**flags, **systems.combo_flags(job.combo), "seed": r + 1}
      runs[job.combo][job.label].append(systems.run_worker(job.worker, job_flags, job.extra))
  return runs


def machine_info() -> dict:
  """The CPU model and core count, recorded beside every result."""
  model = ""
  try:
    with open("/proc/cpuinfo", encoding="utf-8") as f:
      model = next((line.split(":", 1)[1].strip() for line in f
                    if line.startswith("model name")), "")
  except OSError:
    pass
  return {"cpu_model": model or platform.processor() or "unknown", "cores": os.cpu_count(),
          "platform": platform.platform()}


def describe_machine(info: dict) -> str:
  return f"{info['cpu_model']}, {info['cores']} cores"


# w2v_jax flags a benchmark may set for every w2v_jax run (name, type, help).
TRAINER_ARGS = (("step", str, "w2v_jax: auto, fused or generic"),
                ("threads", int, "w2v_jax: fused step threads (0: the cores)"),
                ("replicas", int, "w2v_jax: replicas (default 1; 0: one per core)"),
                ("sync_every", int, "w2v_jax: steps between replica merges"),
                ("merge", str, "w2v_jax: sum or mean"),
                ("batch_size", int, "w2v_jax: examples per step (per replica)"),
                ("steps_per_call", int, "w2v_jax: steps per jitted call"))


def add_trainer_args(parser: argparse.ArgumentParser) -> None:
  for name, kind, help_text in TRAINER_ARGS:
    parser.add_argument(f"--{name}", type=kind, default=None, help=help_text)


def trainer_flags(args: argparse.Namespace) -> dict:
  """The w2v_jax flags given by `add_trainer_args` flags."""
  return {name: getattr(args, name) for name, _, _ in TRAINER_ARGS
          if getattr(args, name) is not None}


def add_subword_args(parser: argparse.ArgumentParser) -> None:
  """--subwords and its n-gram settings: w2v_jax --subwords against gensim FastText."""
  parser.add_argument("--subwords", action="store_true",
                      help="fastText subwords: w2v_jax --subwords against gensim FastText")
  parser.add_argument("--minn", type=int, default=3)
  parser.add_argument("--maxn", type=int, default=6)
  parser.add_argument("--bucket", type=int, default=2_000_000)


def shared_flags(args: argparse.Namespace) -> dict:
  """The settings both systems train with: systems.SHARED, the corpus, epochs and subwords."""
  flags = {**systems.SHARED, "corpus": [args.corpus], "epochs": args.epochs}
  if getattr(args, "subwords", False):
    flags.update(subwords=True, minn=args.minn, maxn=args.maxn, bucket=args.bucket)
  return flags
