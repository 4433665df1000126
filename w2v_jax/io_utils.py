"""Atomic file writes: a temp file in the same directory, then os.replace."""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from typing import IO, Any



@contextlib.contextmanager
def atomic_open(path: str, mode: str = "w", **kwargs) -> Iterator[IO]:
  """Yields a temp file that replaces `path` only if the block finishes without error."""
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=directory, prefix=os.path.basename(path) + ".", suffix=".tmp")
  os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; outputs are for other tools too.
  try:
    with os.fdopen(fd, mode, **kwargs) as f:
      yield f
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException as e:
    with contextlib.suppress(FileNotFoundError):
      os.unlink(tmp)
    if isinstance(e, OSError):  # Name the file meant, not the temp.
      raise named_os_error(e, path, replace=True) from e
    raise


_UMASK_LOCK = threading.Lock()


def _umask() -> int:
  """The process's umask. Reading it means setting it, so two threads writing files at once
  (the final checkpoint's and the vectors') must not interleave, or one restores the other's 0."""
  with _UMASK_LOCK:
    umask = os.umask(0)
    os.umask(umask)
  return umask


def named_os_error(e: OSError, path: str, replace: bool = False) -> OSError:
  """`e` naming `path`, where it names no file (a failed write or flush names none) or
  `replace`s the one it names; the one-line messages for the user come from this name."""
  if e.filename and not replace:
    return e
  return OSError(e.errno, e.strerror or str(e), path)


def remove_temps(directory: str, skip: Callable[[str], bool] = lambda name: False) -> list[str]:
  """Deletes the temp files `atomic_open` left below `directory` when its process was killed.

  Subdirectories whose name `skip` accepts are not entered (another live writer's files).
  """
  removed = []
  for root, dirs, names in os.walk(directory):
    dirs[:] = [d for d in dirs if not skip(d)]
    for name in names:
      if name.endswith(".tmp"):
        with contextlib.suppress(FileNotFoundError):
          os.unlink(os.path.join(root, name))
          removed.append(os.path.join(root, name))
  return removed


class DirectoryInUse(RuntimeError):
  """Another live process holds the directory's lock."""


def hold_lock(path: str) -> IO:
  """Takes an exclusive lock on `path` (created if missing) for as long as the file stays open.

  An flock, so the kernel drops it when the holder exits or is killed: a crash never leaves a
  stale lock. Raises DirectoryInUse, naming the holder's pid, if another process has it.
  """
  # Imported here: POSIX only, and the package (its readers, query, native's fallback) must
  # import where there is no fcntl.
  import fcntl  # pylint: disable=import-outside-toplevel

  f = open(path, "a+", encoding="utf-8")  # pylint: disable=consider-using-with
  try:
    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except BlockingIOError:
    f.seek(0)
    holder = f.read().strip() or "unknown"
    f.close()
    raise DirectoryInUse(f"{os.path.dirname(os.path.abspath(path))}: in use by another run "
                         f"(pid {holder}); wait for it to end, or use another --out_dir") from None
  f.seek(0)
  f.truncate()
  f.write(f"{os.getpid()}\n")
  f.flush()
  return f


def atomic_write_text(path: str, text: str) -> None:
  with atomic_open(path, "w", encoding="utf-8") as f:
    f.write(text)


def json_safe(obj: Any) -> Any:
  """NaN/Inf become null, so the file is strict JSON that any tool reads."""
  if isinstance(obj, float):
    return obj if math.isfinite(obj) else None
  if isinstance(obj, dict):
    return {k: json_safe(v) for k, v in obj.items()}
  if isinstance(obj, (list, tuple)):
    return [json_safe(v) for v in obj]
  return obj


def read_json(path: str) -> Any:
  """The parsed file, or None if it is missing or not (yet) valid JSON."""
  try:
    with open(path, encoding="utf-8") as f:
      return json.load(f)
  except (OSError, ValueError):
    return None


def atomic_write_json(path: str, obj: Any) -> None:
  atomic_write_text(path, json.dumps(json_safe(obj), indent=2, sort_keys=True) + "\n")
