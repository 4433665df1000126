"""Where the train state lives: one model over all devices, or one replica per device.

The training run sees the same few operations either way (place the state, compile the step,
put a block of batches, read the state back); `make_placement` picks the strategy from the
number of replicas:

  1 replica:  `parallel` - one set of tables, the batch split over every device, every update
              applied everywhere (synchronous); the only mode with `--table_sharding rows`.
  N replicas: `replicas` - a copy of the tables per device, each training its own share of the
              examples, merged every `sync_every` steps; across processes after
              `jax.distributed.initialize`.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import os
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
import optax
from jax.sharding import Mesh

from w2v_jax import parallel, replicas
from w2v_jax import step as step_lib


@dataclasses.dataclass(frozen=True)
class Placement:
  """The device side of a run; `state` below is whatever `init` returned."""

  mesh: Mesh
  replicas: int  # In all processes; 1 = one model.
  batch_size: int  # Examples per step over all replicas.
  table_sharding: str
  init: Callable[[step_lib.TrainState], Any]  # A fresh state onto the devices.
  restore: Callable[[Any], Any]  # A state read from a checkpoint onto the devices.
  compile: Callable[[Any, optax.GradientTransformation, Any], Callable]  # -> fn(state, batches).
  put: Callable[[dict[str, np.ndarray], tuple[str, ...]], dict[str, jax.Array]]
  to_host: Callable[[Any], Any]  # The state as NumPy (every process takes part).
  table: Callable[[Any, str], np.ndarray]  # One (merged) table as NumPy, e.g. "input".
  # Every process waits for the others (after work that only some do, before a collective).
  sync: Callable[[], None] = lambda: None

  def put_batches(self, batches: dict[str, np.ndarray], objective: Any) -> dict[str, jax.Array]:
    return self.put(batches, tuple(getattr(objective, "shared_keys", ())))


def use_host_devices(replicas: int) -> None:
  """Makes a CPU's cores (or `replicas`) JAX host devices: one replica each by default.

  Call before JAX starts its backends (before the first array or device query); where
  XLA_FLAGS already forces a device count, that count stands. GPUs and TPUs are unaffected.
  """
  if "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", ""):
    return
  cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
  jax.config.update("jax_num_cpu_devices", replicas or cores or 1)


def replica_count(requested: int) -> int:
  """Replicas in every process: `requested`, or 0 for one per local device."""
  return requested or jax.local_device_count()


def make_placement(requested_replicas: int, batch_size: int, table_sharding: str,
                   sync_every: int, merge: str) -> Placement:
  """One model (1 replica in all) or replicas; `batch_size` is per replica."""
  per_process = replica_count(requested_replicas)
  total = per_process * jax.process_count()
  if total == 1:
    return _one_model(batch_size, table_sharding)
  if table_sharding != "replicated":
    raise ValueError(f"--table_sharding={table_sharding}: needs --replicas=1 (each replica "
                     f"holds whole tables; {total} replicas here)")
  return _replicas(per_process, batch_size, sync_every, merge)


def _one_model(batch_size: int, table_sharding: str) -> Placement:
  mesh = parallel.make_mesh()
  if batch_size % mesh.size:
    raise ValueError(f"--batch_size={batch_size}: must be a multiple of the {mesh.size} devices")
  shard = functools.partial(parallel.shard_state, mesh=mesh, table_sharding=table_sharding)

  def compile_steps(state, tx, objective):
    return parallel.jit_sharded(functools.partial(step_lib.train_steps, tx=tx,
                                                  objective=objective),
                                state, mesh, table_sharding)

  return Placement(
      mesh=mesh, replicas=1, batch_size=batch_size, table_sharding=table_sharding,
      init=shard, restore=shard, compile=compile_steps,
      put=lambda batches, shared: parallel.put_batches(batches, mesh),
      to_host=lambda state: jax.tree_util.tree_map(np.asarray, jax.device_get(state)),
      table=lambda state, name: np.asarray(jax.device_get(state.params[name])),
  )


def _replicas(per_process: int, batch_size: int, sync_every: int, merge: str) -> Placement:
  mesh = replicas.make_mesh(per_process)
  # Barrier names in call order, the same in every process (they make the same calls).
  names = itertools.count()

  def sync():
    replicas.process_barrier(f"w2v_jax/sync/{next(names)}")

  def synced(fn):  # Reads that gather across processes start together.
    def wrapped(*args):
      sync()
      return fn(*args)
    return wrapped

  def compile_steps(state, tx, objective):
    del state  # Placed already; shard_map's specs apply to every leaf.
    return replicas.jit_replica_steps(mesh, tx=tx, objective=objective, sync_every=sync_every,
                                      merge=merge)

  return Placement(
      mesh=mesh, replicas=mesh.size, batch_size=batch_size * mesh.size,
      table_sharding="replicated",
      init=lambda state: replicas.replicate(state, mesh, merge),
      restore=lambda state: replicas.put_state(state, mesh),
      compile=compile_steps,
      put=lambda batches, shared: replicas.put_batches(batches, mesh, shared),
      to_host=synced(replicas.to_host),
      table=synced(replicas.make_merged_table(mesh, merge)),
      sync=sync,
  )


def step_of(place: Placement, state: Any) -> int:
  """The step count of a placed state (replicas share theirs); every process takes part."""
  train = state.train if isinstance(state, replicas.ReplicaState) else state
  return int(np.asarray(place.to_host(train.step)).reshape(-1)[0])
