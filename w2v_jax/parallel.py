"""Data parallelism over all local devices with `jax.sharding`.

The batch axis is split over a 1-D mesh axis "data". Embedding tables (and their per-row optimizer
state) are either replicated or split by rows over the same axis, so a vocabulary too large for
one device still trains; XLA's SPMD partitioner inserts the gathers and collectives. The same
code runs multi-host after `jax.distributed.initialize()`, where `jax.devices()` spans all hosts.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

AXIS = "data"


def make_mesh(devices: list | None = None) -> Mesh:
  """A 1-D mesh over all (or the given) devices."""
  devices = jax.devices() if devices is None else devices
  return Mesh(np.asarray(devices), (AXIS,))


def padded_rows(vocab_size: int, mesh: Mesh, table_sharding: str) -> int:
  """Rows to allocate: row sharding needs a multiple of the device count."""
  if table_sharding != "rows":
    return vocab_size
  n = mesh.size
  return -(-vocab_size // n) * n


def state_shardings(state, mesh: Mesh, table_sharding: str):
  """A sharding per state leaf: tables and table-shaped optimizer state by rows, or replicated."""
  replicated = NamedSharding(mesh, P())
  rows = NamedSharding(mesh, P(AXIS, None))
  table_shape = state.params["input"].shape

  def leaf_sharding(x):
    if table_sharding == "rows" and getattr(x, "shape", None) == table_shape:
      return rows
    return replicated

  return jax.tree_util.tree_map(leaf_sharding, state)


def shard_state(state, mesh: Mesh, table_sharding: str):
  return jax.device_put(state, state_shardings(state, mesh, table_sharding))


def batch_sharding(mesh: Mesh) -> NamedSharding:
  """[steps, batch] arrays: the batch axis split over devices."""
  return NamedSharding(mesh, P(None, AXIS))


def put_batches(batches: dict[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
  return jax.device_put(batches, batch_sharding(mesh))


def jit_sharded(fn, state, mesh: Mesh, table_sharding: str):
  """jit(fn)(state, batches) with the state donated and its shardings pinned across calls."""
  s_shard = state_shardings(state, mesh, table_sharding)
  return jax.jit(
      fn,
      in_shardings=(s_shard, batch_sharding(mesh)),
      out_shardings=(s_shard, NamedSharding(mesh, P())),
      donate_argnums=0,
  )
