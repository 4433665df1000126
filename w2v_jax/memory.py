"""Handing memory that setup phases freed back to the OS (glibc only; a no-op elsewhere).

Encoding the corpus and compiling the step free tens of MB that glibc keeps for reuse, and the
input pipeline leaves free pages in its thread's arena; the phases after each never need them
again, so the run's peak RSS is lower if they are returned (`train` calls this after setup, after
the first step and after training).

Measured and rejected: pinning glibc's mmap threshold (mallopt M_MMAP_THRESHOLD) keeps the
pipeline's 0.1-2 MB arrays from piling up in per-thread heaps (-40 MB peak RSS on the bench
corpus) but makes every such array fresh, page-faulted memory: training ran 15-30% slower.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc


@functools.cache
def _glibc() -> ctypes.CDLL | None:
  name = ctypes.util.find_library("c")
  try:
    libc = ctypes.CDLL(name or "libc.so.6")
  except OSError:  # Windows, or no C library found.
    return None
  return libc if hasattr(libc, "malloc_trim") else None  # musl, macOS: nothing to trim.


def release_freed() -> None:
  """Collects garbage and returns free heap pages to the OS (after setup, before training)."""
  gc.collect()
  libc = _glibc()
  if libc is not None:
    libc.malloc_trim(0)
