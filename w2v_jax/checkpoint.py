"""Atomic checkpoints of the train state plus the data position, with a pointer to the latest."""

from __future__ import annotations

import os
from typing import Any

from flax import serialization

from w2v_jax import io_utils

LATEST = "latest"


def save(directory: str, step: int, payload: dict[str, Any], keep: int = 2) -> str:
  """Writes `ckpt-<step>.msgpack`, then points `latest` at it; keeps the newest `keep` files."""
  os.makedirs(directory, exist_ok=True)
  name = f"ckpt-{step:010d}.msgpack"
  with io_utils.atomic_open(os.path.join(directory, name), "wb") as f:
    f.write(serialization.msgpack_serialize(serialization.to_state_dict(payload)))
  io_utils.atomic_write_text(os.path.join(directory, LATEST), name + "\n")
  old = sorted(n for n in os.listdir(directory) if n.startswith("ckpt-") and n.endswith(".msgpack"))
  for stale in old[:-keep]:
    os.unlink(os.path.join(directory, stale))
  return os.path.join(directory, name)


def latest(directory: str) -> str | None:
  """Path of the last complete checkpoint, or None."""
  pointer = os.path.join(directory, LATEST)
  if not os.path.exists(pointer):
    return None
  with open(pointer) as f:
    path = os.path.join(directory, f.read().strip())
  return path if os.path.exists(path) else None


def restore(path: str, template: dict[str, Any]) -> dict[str, Any]:
  """Loads a checkpoint into the structure of `template` (shapes and dtypes come from the file)."""
  with open(path, "rb") as f:
    state_dict = serialization.msgpack_restore(f.read())
  return serialization.from_state_dict(template, state_dict)
