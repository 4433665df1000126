"""Atomic checkpoints of the train state plus the data position, with a pointer to the latest.

A checkpoint is one uncompressed `.npz` (NumPy's zip of `.npy` files, one per pytree leaf keyed by
its path), so other tools can read it. Saving writes each array straight from its own memory: no
copy of the file, or of any array, is built first.
"""

from __future__ import annotations

import dataclasses
import os
import zipfile
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from w2v_jax import io_utils

LATEST = "latest"


def _flat(tree: Any) -> dict[str, Any]:
  leaves, _ = jax.tree_util.tree_flatten_with_path(tree)
  return {jax.tree_util.keystr(path): leaf for path, leaf in leaves}


def write_npz(f, arrays: dict[str, np.ndarray]) -> None:
  """What `np.savez` writes, minus its 16 MB staging copies (they set the run's peak memory)."""
  with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
    for key, value in arrays.items():
      value = np.asarray(value, order="C")
      with archive.open(key + ".npy", "w", force_zip64=True) as out:
        np.lib.format.write_array_header_1_0(out, np.lib.format.header_data_from_array_1_0(value))
        out.write(value.reshape(-1).view(np.uint8).data)


def save(directory: str, step: int, payload: Any, keep: int = 2) -> str:
  """Writes `ckpt-<step>.npz`, then points `latest` at it; keeps the newest `keep` files."""
  os.makedirs(directory, exist_ok=True)
  name = f"ckpt-{step:010d}.npz"
  with io_utils.atomic_open(os.path.join(directory, name), "wb") as f:
    write_npz(f, {k: np.asarray(jax.device_get(v)) for k, v in _flat(payload).items()})
  io_utils.atomic_write_text(os.path.join(directory, LATEST), name + "\n")
  old = sorted(n for n in os.listdir(directory) if n.startswith("ckpt-") and n.endswith(".npz"))
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


def verify(path: str) -> str | None:
  """None if the checkpoint reads back whole, else what is wrong with it.

  Every array is a zip entry with its CRC-32, so reading them all checks every byte: a truncated
  or corrupted file is caught here, before any of it is restored.
  """
  try:
    with zipfile.ZipFile(path) as archive:
      bad = archive.testzip()
  except (OSError, EOFError, ValueError, zipfile.BadZipFile) as e:
    return str(e) or type(e).__name__
  return f"{bad}: CRC-32 mismatch" if bad else None


def latest_valid(directory: str, warn: Callable[[str], None] = lambda message: None
                 ) -> str | None:
  """The newest checkpoint that verifies; each bad one is reported and set aside (*.corrupt).

  Newest first: the `latest` pointer's, then the others by step. A bad file is renamed so that
  pruning (which keeps the newest names) never keeps it in place of a good one.
  """
  if not os.path.isdir(directory):
    return None
  named = sorted((n for n in os.listdir(directory) if n.startswith("ckpt-") and
                  n.endswith(".npz")), reverse=True)
  pointed = latest(directory)
  paths = ([pointed] if pointed else []) + [os.path.join(directory, n) for n in named
                                           if os.path.join(directory, n) != pointed]
  for path in paths:
    reason = verify(path)
    if reason is None:
      return path
    os.replace(path, path + ".corrupt")
    warn(f"{path}: corrupt checkpoint ({reason}), kept as {os.path.basename(path)}.corrupt; "
         "trying an older one")
  return None


def restore(path: str, template: Any) -> Any:
  """Loads a checkpoint into the structure of `template`; a mismatch raises ValueError."""
  leaves, treedef = jax.tree_util.tree_flatten_with_path(template)
  with np.load(path) as saved:
    keys = [jax.tree_util.keystr(p) for p, _ in leaves]
    missing = [k for k in keys if k not in saved.files]
    if missing or len(keys) != len(saved.files):
      raise ValueError(f"{path}: does not match this run's state (missing {missing[:3]})")
    values = []
    for key, (_, like) in zip(keys, leaves):
      value = saved[key]
      if np.shape(like) != value.shape:
        raise ValueError(f"{path}: {key} has shape {value.shape}, this run needs {np.shape(like)}")
      values.append(value)
  return jax.tree_util.tree_unflatten(treedef, values)


def run_payload(state: Any, position: Any, words: float) -> dict[str, Any]:
  """What a run's checkpoint holds: the train state, where the data stream is (a
  data.Position) and the raw corpus words trained on."""
  return {"state": state, "position": dataclasses.asdict(position), "words": words}


def restore_run(path: str, state: Any, position: Any) -> tuple[Any, Any, float]:
  """A run's checkpoint read into the structure of `state` and `position` (a dataclass, e.g.
  data.Position()): (host state, position, words); a mismatch raises ValueError."""
  restored = restore(path, run_payload(state, position, 0.0))
  fields = {k: int(v) for k, v in restored["position"].items()}
  return restored["state"], type(position)(**fields), float(restored["words"])
