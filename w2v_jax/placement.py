"""Where the train state lives: one model, or one replica per device (a `Placement`).

The training run sees the same few operations either way (place the state, compile the step,
put a block of batches, read the state back); `make_placement` picks the class from the number
of replicas:

  1 replica:  `OneModel` - one set of tables, the batch split over every device, every update
              applied everywhere (synchronous); the only mode with `--table_sharding rows`, and
              the fused step's (one CPU device, its threads its own).
  N replicas: `Replicas` - a copy of the tables per device, each training its own share of the
              examples, merged every `sync_every` steps; across processes after
              `jax.distributed.initialize`.

Which step trains is `w2v_jax.step_choice`'s; how many devices, `w2v_jax.devices`.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from typing import Any, Protocol

import jax
import numpy as np
import optax
from absl import logging
from jax.sharding import Mesh

from w2v_jax import checkpoint as checkpoint_lib
from w2v_jax import config as config_lib
from w2v_jax import devices, fused, memory, parallel, replicas
from w2v_jax import step as step_lib

StepsFn = Callable[[Any, dict[str, jax.Array]], tuple[Any, dict[str, jax.Array]]]


class Placement(Protocol):
  """The device side of a run; `state` below is whatever `init` returned."""

  mesh: Mesh
  replicas: int  # In all processes; 1 = one model.
  batch_size: int  # Examples per step over all replicas.

  def rows(self, vocab_size: int) -> int:
    """Rows to allocate per table."""

  def init(self, state: step_lib.TrainState) -> Any:
    """A fresh state onto the devices."""

  def restore(self, state: Any) -> Any:
    """A state read from a checkpoint onto the devices."""

  def compile(self, state: Any, tx: optax.GradientTransformation, objective: Any) -> StepsFn:
    """The generic step over a block of batches: fn(state, batches) -> (state, metrics)."""

  def compile_fused(self, kernel: Any, tx: optax.GradientTransformation, lookups: Any
                    ) -> StepsFn:
    """The fused step over a block; ValueError where this placement cannot run it."""

  def put_batches(self, batches: dict[str, np.ndarray], objective: Any
                  ) -> dict[str, jax.Array]:
    """A host block of batches onto the devices."""

  def to_host(self, tree: Any) -> Any:
    """The state (or part of it) as NumPy; every process takes part."""

  def table(self, state: Any, name: str) -> np.ndarray:
    """One (merged) table as NumPy, e.g. "input"; every process takes part."""

  def step_of(self, state: Any) -> int:
    """The step count of a placed state; every process takes part."""

  def sync(self) -> None:
    """Every process waits for the others (after work that only some do, before a
    collective)."""


def make_placement(settings: config_lib.DevicesConfig, batch_size: int) -> Placement:
  """One model (1 replica in all) or replicas; `batch_size` is per replica."""
  per_process = devices.replica_count(settings.replicas)
  total = per_process * jax.process_count()
  if total == 1:
    return OneModel(batch_size, settings.table_sharding)
  if settings.table_sharding != "replicated":
    raise ValueError(f"--table_sharding={settings.table_sharding}: needs --replicas=1 (each "
                     f"replica holds whole tables; {total} replicas here)")
  return Replicas(per_process, batch_size, settings.sync_every, settings.merge)


class OneModel:
  """One set of tables over every device (replicated or split by rows), each batch split."""

  replicas = 1

  def __init__(self, batch_size: int, table_sharding: str):
    self.mesh = parallel.make_mesh()
    if batch_size % self.mesh.size:
      raise ValueError(f"--batch_size={batch_size}: must be a multiple of the {self.mesh.size} "
                       f"devices")
    self.batch_size, self.table_sharding = batch_size, table_sharding

  def rows(self, vocab_size: int) -> int:
    """Row sharding needs a multiple of the device count."""
    return parallel.padded_rows(vocab_size, self.mesh, self.table_sharding)

  def init(self, state: step_lib.TrainState) -> step_lib.TrainState:
    return parallel.shard_state(state, mesh=self.mesh, table_sharding=self.table_sharding)

  restore = init

  def compile(self, state: Any, tx: optax.GradientTransformation, objective: Any) -> StepsFn:
    return parallel.jit_sharded(functools.partial(step_lib.train_steps, tx=tx,
                                                  objective=objective),
                                state, self.mesh, self.table_sharding)

  def compile_fused(self, kernel: Any, tx: optax.GradientTransformation, lookups: Any
                    ) -> StepsFn:
    if self.mesh.size != 1:
      raise ValueError(f"the fused step runs on one device (this run has {self.mesh.size})")
    lookups = jax.device_put(lookups)
    fn = jax.jit(functools.partial(fused.train_steps, kernel=kernel, tx=tx), donate_argnums=0)
    return lambda state, batches: fn(state, batches, lookups)

  def put_batches(self, batches: dict[str, np.ndarray], objective: Any
                  ) -> dict[str, jax.Array]:
    del objective  # Every entry is split alike, as the compiled step's shardings expect.
    return parallel.put_batches(batches, self.mesh)

  def to_host(self, tree: Any) -> Any:
    return jax.tree_util.tree_map(np.asarray, jax.device_get(tree))

  def table(self, state: Any, name: str) -> np.ndarray:
    return np.asarray(jax.device_get(state.params[name]))

  def step_of(self, state: step_lib.TrainState) -> int:
    return int(np.asarray(self.to_host(state.step)).reshape(-1)[0])

  def sync(self) -> None:
    """One model is one process: nothing to wait for."""


class Replicas:
  """A copy of the tables per device (`w2v_jax.replicas`), merged every `sync_every` steps."""

  table_sharding = "replicated"

  def __init__(self, per_process: int, batch_size: int, sync_every: int, merge: str):
    self.mesh = replicas.make_mesh(per_process)
    self.replicas = self.mesh.size
    self.batch_size = batch_size * self.mesh.size
    self.sync_every, self.merge = sync_every, merge
    self._merged_table = replicas.make_merged_table(self.mesh, merge)
    # Barrier names in call order, the same in every process (they make the same calls).
    self._barriers = itertools.count()

  def rows(self, vocab_size: int) -> int:
    return vocab_size

  def init(self, state: step_lib.TrainState) -> replicas.ReplicaState:
    return replicas.replicate(state, self.mesh, self.merge)

  def restore(self, state: replicas.ReplicaState) -> replicas.ReplicaState:
    return replicas.put_state(state, self.mesh)

  def compile(self, state: Any, tx: optax.GradientTransformation, objective: Any) -> StepsFn:
    del state  # Placed already; shard_map's specs apply to every leaf.
    return replicas.jit_replica_steps(self.mesh, tx=tx, objective=objective,
                                      sync_every=self.sync_every, merge=self.merge)

  def compile_fused(self, kernel: Any, tx: optax.GradientTransformation, lookups: Any
                    ) -> StepsFn:
    del kernel, tx, lookups
    raise ValueError(f"the fused step trains one model ({self.replicas} replicas here)")

  def put_batches(self, batches: dict[str, np.ndarray], objective: Any
                  ) -> dict[str, jax.Array]:
    return replicas.put_batches(batches, self.mesh, tuple(objective.shared_keys))

  # Reads that gather across processes start together.
  def to_host(self, tree: Any) -> Any:
    self.sync()
    return replicas.to_host(tree)

  def table(self, state: Any, name: str) -> np.ndarray:
    self.sync()
    return self._merged_table(state, name)

  def step_of(self, state: replicas.ReplicaState) -> int:
    """Replicas share their step count."""
    return int(np.asarray(self.to_host(state.train.step)).reshape(-1)[0])

  def sync(self) -> None:
    replicas.process_barrier(f"w2v_jax/sync/{next(self._barriers)}")


def placed_state(place: Placement, create: Callable[[], step_lib.TrainState],
                 checkpoint: str | None, position: Any) -> tuple[Any, int, Any, float]:
  """A fresh state from `create()` placed on the devices, or the checkpoint's restored into
  its structure: (state, step, data position, words trained on); on the CPU, its tables on
  huge pages."""
  state, words = place.init(create()), 0.0
  if checkpoint:
    restored, position, words = checkpoint_lib.restore_run(checkpoint, state, position)
    state = place.restore(restored)
  # Read back in every case: across processes it is a collective whose barrier waits for a
  # process that was slower to get here (gloo's own collectives give up after 30 s).
  step = place.step_of(state)
  if checkpoint:
    logging.info("resumed from %s at step %d", checkpoint, step)
  memory.release_freed()  # What encoding the corpus and initialising the tables left behind.
  if memory.huge_pages(state):
    logging.info("tables on huge pages: %.0f MB in all", memory.anon_huge_bytes() / 2**20)
  return state, step, position, words
