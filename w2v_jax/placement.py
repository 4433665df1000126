"""Which step trains and where the train state lives: one model, or one replica per device.

The training run sees the same few operations either way (place the state, compile the step,
put a block of batches, read the state back); `make_placement` picks the strategy from the
number of replicas:

  1 replica:  `parallel` - one set of tables, the batch split over every device, every update
              applied everywhere (synchronous); the only mode with `--table_sharding rows`, and
              the fused step's (one CPU device, its threads its own).
  N replicas: `replicas` - a copy of the tables per device, each training its own share of the
              examples, merged every `sync_every` steps; across processes after
              `jax.distributed.initialize`.

`choose_step` decides between the fused CPU step and the generic one.
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
from absl import logging
from jax.sharding import Mesh

from w2v_jax import config as config_lib
from w2v_jax import native, parallel, replicas
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
  # The fused step, (kernel, tx, lookups) -> fn(state, batches); None where it cannot run.
  compile_fused: Callable[[Any, optax.GradientTransformation, Any], Callable] | None
  put: Callable[[dict[str, np.ndarray], tuple[str, ...]], dict[str, jax.Array]]
  to_host: Callable[[Any], Any]  # The state as NumPy (every process takes part).
  table: Callable[[Any, str], np.ndarray]  # One (merged) table as NumPy, e.g. "input".
  # Every process waits for the others (after work that only some do, before a collective).
  sync: Callable[[], None] = lambda: None

  def rows(self, vocab_size: int) -> int:
    """Rows to allocate per table: row sharding needs a multiple of the device count."""
    return parallel.padded_rows(vocab_size, self.mesh, self.table_sharding)

  def put_batches(self, batches: dict[str, np.ndarray], objective: Any) -> dict[str, jax.Array]:
    return self.put(batches, tuple(objective.shared_keys))


def use_host_devices(replicas: int) -> None:
  """Makes a CPU's cores (or `replicas`) JAX host devices: one replica each by default.

  Call before JAX starts its backends (before the first array or device query); where
  XLA_FLAGS already forces a device count, that count stands. GPUs and TPUs are unaffected.
  """
  if "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", ""):
    return
  jax.config.update("jax_num_cpu_devices", replicas or _cores())


def _cores() -> int:
  """The cores this process may run on."""
  return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def replica_count(requested: int) -> int:
  """Replicas in every process: `requested`, or 0 for one per local device."""
  return requested or jax.local_device_count()


def make_placement(devices: config_lib.DevicesConfig, batch_size: int) -> Placement:
  """One model (1 replica in all) or replicas; `batch_size` is per replica."""
  per_process = replica_count(devices.replicas)
  total = per_process * jax.process_count()
  if total == 1:
    return _one_model(batch_size, devices.table_sharding)
  if devices.table_sharding != "replicated":
    raise ValueError(f"--table_sharding={devices.table_sharding}: needs --replicas=1 (each "
                     f"replica holds whole tables; {total} replicas here)")
  return _replicas(per_process, batch_size, devices.sync_every, devices.merge)


def fused_unsupported(config: config_lib.Config) -> str | None:
  """What a config would have to change for the fused step (a flag to set), or None."""
  o, e, d = config.objective, config.examples, config.devices
  reasons = [
      (config.optimizer.optimizer != "sgd", "--optimizer=sgd (the kernel applies SGD)"),
      (o.loss != "sigmoid", "--loss=sigmoid"),
      (o.num_ns > 0 and o.negatives != "unigram", "--negatives=unigram"),
      (o.shared_negatives > 0, "no --shared_negatives (it draws negatives per window)"),
      (e.subsampling == "zipf", "--subsampling=word2vec or none"),
      (e.fixed_training_set or e.repeat_batch_order or e.drop_remainder,
       "examples drawn afresh every epoch (no --fixed_training_set, --repeat_batch_order, "
       "--drop_remainder)"),
      (config.corpus.reserved_tokens or config.corpus.sequence_length is not None,
       "no --reserved_tokens or --sequence_length (whole sentences of vocabulary words)"),
      (e.layout == "pairs", "windows, not --layout=pairs (it makes each window itself)"),
      (d.replicas != 1 or d.table_sharding != "replicated",
       "one model on one device (--replicas=1, --table_sharding=replicated)"),
  ]
  return next((f"needs {flag}" for bad, flag in reasons if bad), None)


def choose_step(config: config_lib.Config, fused_rule: Any, builtin_optimizer: bool = True,
                saved: str | None = None) -> str:
  """"fused" or "generic" for `config`'s --step: auto is fused where it can train (a rule from
  the objective, SGD, a CPU, one device, the kernel built), else generic; a resumed run keeps
  the step it was started with (`saved`).

  Raises ValueError (one line: why) for --step=fused where it cannot run.
  """
  step = config.devices.step
  if step == "auto" and saved in ("fused", "generic"):
    step = saved
  if step == "generic":
    return step
  why = fused_unsupported(config)
  if why is None and fused_rule is None:
    why = "needs an objective with a fused rule (objectives.Word2Vec's)"
  if why is None and not builtin_optimizer and step == "auto":  # --step=fused: the user's word.
    why = "needs the built-in optimizer (--optimizer=sgd; another tx: --step=fused if it is SGD)"
  if why is None and jax.default_backend() != "cpu":
    why = f"needs a CPU (this run's devices are {jax.default_backend()})"
  if why is None and jax.device_count() > 1:
    why = f"needs one device (this run has {jax.device_count()})"
  if why is None:
    try:
      native.load()
    except native.KernelUnavailable as e:
      why = f"is unavailable: {e}"
  if why is None:
    return "fused"
  if step == "fused":
    raise ValueError(f"--step=fused: {why.removeprefix('is unavailable: ')}")
  if why.startswith("needs"):  # What auto means for these settings.
    logging.info("generic step: the fused step %s", why)
  else:
    logging.warning("generic step: the fused step %s", why)
  return "generic"


def thread_count(requested: int) -> int:
  """--threads, or the cores this process may run on."""
  return requested or _cores()


def _one_model(batch_size: int, table_sharding: str) -> Placement:
  mesh = parallel.make_mesh()
  if batch_size % mesh.size:
    raise ValueError(f"--batch_size={batch_size}: must be a multiple of the {mesh.size} devices")
  shard = functools.partial(parallel.shard_state, mesh=mesh, table_sharding=table_sharding)

  def compile_steps(state, tx, objective):
    return parallel.jit_sharded(functools.partial(step_lib.train_steps, tx=tx,
                                                  objective=objective),
                                state, mesh, table_sharding)

  def compile_fused(kernel, tx, lookups):
    from w2v_jax import fused  # pylint: disable=import-outside-toplevel

    lookups = jax.device_put(lookups)
    fn = jax.jit(functools.partial(fused.train_steps, kernel=kernel, tx=tx), donate_argnums=0)
    return lambda state, batches: fn(state, batches, lookups)

  return Placement(
      mesh=mesh, replicas=1, batch_size=batch_size, table_sharding=table_sharding,
      init=shard, restore=shard, compile=compile_steps,
      compile_fused=compile_fused if mesh.size == 1 else None,
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
      compile=compile_steps, compile_fused=None,
      put=lambda batches, shared: replicas.put_batches(batches, mesh, shared),
      to_host=synced(replicas.to_host),
      table=synced(replicas.make_merged_table(mesh, merge)),
      sync=sync,
  )


def settle(config: config_lib.Config, objective: Any, builtin_optimizer: bool = True,
           saved_step: str | None = None) -> tuple[config_lib.Config, Any]:
  """The config resolved (which step trains, and every auto) and the objective it trains: the
  given one, or the config's (objectives.from_config)."""
  from w2v_jax import objectives  # pylint: disable=import-outside-toplevel

  if objective is None:  # Its settings do not depend on the step; resolved for either.
    objective = objectives.from_config(config_lib.resolve(config, step="generic").objective)
  objective = objectives.check(objective)
  step = choose_step(config, objective.fused(), builtin_optimizer, saved_step)
  return config_lib.resolve(config, step=step, threads=thread_count(config.devices.threads)
                            ), objective


def placed_state(place: Placement, create: Callable[[], step_lib.TrainState],
                 checkpoint: str | None, position: Any) -> tuple[Any, int, Any, float]:
  """A fresh state from `create()` placed on the devices, or the checkpoint's restored into
  its structure: (state, step, data position, words trained on); on the CPU, its tables on
  huge pages."""
  from w2v_jax import checkpoint as checkpoint_lib  # pylint: disable=import-outside-toplevel
  from w2v_jax import memory  # pylint: disable=import-outside-toplevel

  state, words = place.init(create()), 0.0
  if checkpoint:
    restored, position, words = checkpoint_lib.restore_run(checkpoint, state, position)
    state = place.restore(restored)
  # Read back in every case: across processes it is a collective whose barrier waits for a
  # process that was slower to get here (gloo's own collectives give up after 30 s).
  step = step_of(place, state)
  if checkpoint:
    logging.info("resumed from %s at step %d", checkpoint, step)
  memory.release_freed()  # What encoding the corpus and initialising the tables left behind.
  if memory.huge_pages(state):
    logging.info("tables on huge pages: %.0f MB in all", memory.anon_huge_bytes() / 2**20)
  return state, step, position, words


def step_of(place: Placement, state: Any) -> int:
  """The step count of a placed state (replicas share theirs); every process takes part."""
  train = state.train if isinstance(state, replicas.ReplicaState) else state
  return int(np.asarray(place.to_host(train.step)).reshape(-1)[0])
