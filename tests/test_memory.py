"""Huge pages for the tables: contents kept, only large CPU buffers advised, in whole 2 MB pages."""

import os

import jax
import numpy as np
import pytest

from w2v_jax import memory


def _thp_mode() -> str:
  try:
    with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
      return f.read().split("[")[1].split("]")[0]
  except (OSError, IndexError):
    return "never"


def _kernel() -> tuple[int, int]:
  try:
    major, minor = os.uname().release.split(".")[:2]
    return int(major), int(minor.split("-")[0])
  except (AttributeError, ValueError):
    return (0, 0)


def _whole_pages(x: jax.Array) -> int:
  start = -(-x.unsafe_buffer_pointer() // memory.HUGE_PAGE) * memory.HUGE_PAGE
  end = (x.unsafe_buffer_pointer() + x.nbytes) // memory.HUGE_PAGE * memory.HUGE_PAGE
  return max(end - start, 0)


def test_huge_pages_keep_contents_and_advise_whole_pages_of_large_buffers():
  big = jax.random.normal(jax.random.PRNGKey(0), (96 * 1024, 128))  # 48 MB
  small = jax.random.normal(jax.random.PRNGKey(1), (1024, 128))  # 0.5 MB: left alone.
  before_big, before_small = np.asarray(big).copy(), np.asarray(small).copy()
  huge_before = memory.anon_huge_bytes()
  advised = memory.huge_pages({"big": big, "small": small, "step": 3}, min_bytes=16 << 20)
  np.testing.assert_array_equal(np.asarray(big), before_big)
  np.testing.assert_array_equal(np.asarray(small), before_small)
  if _thp_mode() == "never" or memory._glibc() is None or _kernel() < (6, 1):
    pytest.skip("no transparent huge pages, or no MADV_COLLAPSE (Linux 6.1+), here")
  assert advised == _whole_pages(big)  # The small array is not advised.
  assert advised >= 46 << 20
  # The kernel collapsed (most of) the big buffer.
  assert memory.anon_huge_bytes() - huge_before >= advised // 2


def test_huge_pages_skip_everything_below_min_bytes():
  x = jax.numpy.ones((1024, 1024))  # 4 MB
  assert memory.huge_pages([x], min_bytes=8 << 20) == 0
