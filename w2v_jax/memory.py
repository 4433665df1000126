"""Keeping the process's resident memory close to what it holds live (glibc only; no-ops elsewhere).

The trainer allocates and frees arrays of 0.1-10 MB all the time (pair pieces, blocks of batches)
from two threads. glibc raises its mmap threshold each time such a block is freed, so later ones
come from per-thread heaps that fragment and are not given back: on the bench corpus that costs
about 60 MB of RSS over what is live. `limit_heap_growth` pins the threshold; `release_freed`
hands back what setup phases (corpus encoding, XLA compilation) freed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc

_M_MMAP_THRESHOLD = -3  # From glibc's malloc.h.
_DEFAULT_MMAP_THRESHOLD = 128 * 1024  # glibc's starting value.


@functools.cache
def _glibc() -> ctypes.CDLL | None:
  name = ctypes.util.find_library("c")
  try:
    libc = ctypes.CDLL(name or "libc.so.6")
    libc.mallopt, libc.malloc_trim  # pylint: disable=pointless-statement
  except (OSError, AttributeError):  # musl, macOS, Windows: nothing to tune.
    return None
  return libc


def limit_heap_growth(threshold: int = _DEFAULT_MMAP_THRESHOLD) -> bool:
  """Serves allocations of `threshold` bytes or more with mmap for the rest of the process.

  A process-wide allocator setting, so entry points call it (experiments/train.py does), not the
  library. Returns whether it took effect.
  """
  libc = _glibc()
  return bool(libc is not None and libc.mallopt(_M_MMAP_THRESHOLD, int(threshold)))


def release_freed() -> None:
  """Collects garbage and returns free heap pages to the OS (after setup, before training)."""
  gc.collect()
  libc = _glibc()
  if libc is not None:
    libc.malloc_trim(0)
