"""A run directory's logs: metrics.jsonl + TensorBoard scalars, status.json, config.json."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from w2v_jax import io_utils


class MetricLog:
  """metrics.jsonl (one JSON object per log step) and tensorboardX scalars."""

  def __init__(self, workdir: str):
    from tensorboardX import SummaryWriter  # pylint: disable=import-outside-toplevel

    self.writer = SummaryWriter(workdir)
    self.path = os.path.join(workdir, "metrics.jsonl")

  def write(self, step: int, values: dict[str, float]) -> None:
    with open(self.path, "a") as f:
      f.write(json.dumps(io_utils.json_safe({"step": step, **values})) + "\n")
    for name, value in values.items():
      if name != "epoch":
        self.writer.add_scalar(name if "/" in name else f"train/{name}", value, step)
    self.writer.flush()

  def close(self) -> None:
    self.writer.close()


def write_status(workdir: str, status: str, **extra: Any) -> None:
  """status.json: running, interrupted, diverged, failed or done."""
  io_utils.atomic_write_json(os.path.join(workdir, "status.json"), {"status": status, **extra})


def config_dict(config: Any) -> dict[str, Any]:
  """A dataclass config as JSON-ready values (tuples become lists)."""
  return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()}
