"""A run directory: its lock, its files, and what a fresh start or a resume does to them.

  OUT_DIR/
    .lock            held by the one process that writes here (an flock: a crash drops it)
    flags.txt        the command line (experiments.train), replayable with --flagfile
    config.json      every setting, auto resolved: what this run trains
    status.json      running, interrupted, diverged, failed or done
    metrics.jsonl    one JSON object per log step; events.out.tfevents.* for TensorBoard
    checkpoints/     ckpt-<step>.npz and a `latest` pointer
    cache/           the encoded corpus
    vectors.*, metadata.tsv, projector/, model.bin (subwords), vocab.tsv, summary.json

In a distributed run, process 0 writes these; each other process keeps its logs in
`process-<i>/` below.
"""

from __future__ import annotations

import json
import os
import shutil
from typing import IO, Any

from absl import logging

from w2v_jax import checkpoint as checkpoint_lib
from w2v_jax import config as config_lib
from w2v_jax import io_utils

LOCK = ".lock"


def lock(workdir: str, process: int = 0) -> IO:
  """Takes the run directory's lock (its own per process of a distributed run) for as long as
  the returned file stays open; io_utils.DirectoryInUse if another live process holds it."""
  os.makedirs(workdir, exist_ok=True)
  return io_utils.hold_lock(os.path.join(workdir, LOCK + (f"-process-{process}" if process
                                                           else "")))


class RunDir:
  """The files of one run (of one process of it)."""

  def __init__(self, workdir: str, process: int = 0):
    self.workdir = workdir
    self.primary = process == 0
    self.path = workdir if self.primary else os.path.join(workdir, f"process-{process}")
    self.checkpoints = os.path.join(workdir, "checkpoints")
    self.cache = os.path.join(self.path, "cache")

  def file(self, name: str) -> str:
    return os.path.join(self.path, name)

  def saved_config(self) -> dict[str, Any]:
    """The config.json of the run started here; {} if none was."""
    try:
      with open(os.path.join(self.workdir, "config.json"), encoding="utf-8") as f:
        return json.load(f)
    except FileNotFoundError:
      return {}  # Nothing was started here: --resume starts the run.
    except (OSError, ValueError) as e:
      raise ValueError(f"--resume: cannot read {self.workdir}/config.json ({e})") from None

  def saved_step(self) -> str | None:
    """The step the run saved here trains with (generic for a run saved before there was a
    choice); None if no run was started here."""
    saved = self.saved_config()
    return config_lib.with_settings_added_since(saved).get("step") if saved else None

  def check_resumable(self, config: config_lib.Config) -> None:
    """Refuses (ValueError) to resume a run with settings other than those it started with."""
    saved = self.saved_config()
    changed = config_lib.resume_differences(saved, config) if saved else []
    if changed:
      shown = ", ".join(changed[:8]) + (f" and {len(changed) - 8} more" if len(changed) > 8
                                        else "")
      raise ValueError(f"--resume: {self.workdir} was started with other settings: {shown}; "
                       "pass the run's own flags (its flags.txt), or start a new --out_dir")

  def begin(self, config: config_lib.Config, resume: bool) -> str | None:
    """Ready to train `config`: resumed from the newest good checkpoint (its path), or fresh
    (None). ValueError if the run saved here trained other settings."""
    checkpoint = None
    if resume:
      self.check_resumable(config)
      checkpoint = checkpoint_lib.latest_valid(self.checkpoints, logging.warning)
    self.start(config, fresh=checkpoint is None)
    return checkpoint

  def start(self, config: config_lib.Config, fresh: bool) -> None:
    """Ready for this run: what a killed run was writing removed; a `fresh` run also drops an
    older run's logs and checkpoints (it must not append to or resume from them)."""
    os.makedirs(self.path, exist_ok=True)
    # The run directory is this run's alone (its lock), so no other writer's file is in
    # flight, but for the other processes' own folders of a distributed run.
    io_utils.remove_temps(self.path, skip=lambda name: name.startswith("process-"))
    if fresh:
      for stale in ("metrics.jsonl", "summary.json"):
        if os.path.exists(self.file(stale)):
          os.unlink(self.file(stale))
      if self.primary:
        shutil.rmtree(self.checkpoints, ignore_errors=True)
    io_utils.atomic_write_json(self.file("config.json"), config.flat())
    self.status("running")

  def status(self, status: str, **extra: Any) -> None:
    """status.json: running, interrupted, diverged, failed or done."""
    write_status(self.path, status, **extra)

  def write_summary(self, summary: dict[str, Any]) -> None:
    io_utils.atomic_write_json(self.file("summary.json"), summary)


def write_status(workdir: str, status: str, **extra: Any) -> None:
  io_utils.atomic_write_json(os.path.join(workdir, "status.json"), {"status": status, **extra})
