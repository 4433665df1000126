"""Independent replicas, one per device, merged every few steps (HogBatch, BlazingText).

`parallel.py` splits each batch over the devices but applies every update on every device, so a
second device adds no speed to a step that is bound by its own gathers and scatters. Here each
device holds its own copy of the tables and optimizer state and trains on its own share of the
examples, as word2vec.c's lock-free threads do on one shared table; every `sync_every` steps the
copies merge:

  sum:  tables = anchor + sum_r (tables_r - anchor)   every replica's change kept (the threads'
                                                      semantics: no update is lost)
  mean: tables = mean_r tables_r                      model averaging

where `anchor` is the merged tables of the previous merge. Optimizer state (Adam's moments, the
schedule's count) stays per replica. The merge is part of the compiled call: a `lax.cond` on the
step count inside the scan, with the collective (`psum`/`pmean` over the mesh axis) in its branch,
so the same code runs on host devices, GPUs, or several hosts after `jax.distributed.initialize`.

Every state leaf has a leading replica axis [R, ...] split over the mesh axis; a block of batches
is [steps, R * B, ...] with replica r training on columns r*B:(r+1)*B, so N replicas merged (sum)
after every step take exactly the SGD step of one device on the whole block.

Across processes, XLA's CPU collectives (gloo) give up when one process reaches a collective 30 s
before another, a limit no flag changes; uneven host work before one (a slower start, process 0
writing a checkpoint) is therefore bridged by `process_barrier`, which waits on the coordination
service for as long as it takes.

On CPU host devices, keep only a few calls in flight (`loop.run` fetches each call's metrics two
calls later): with hundreds of calls queued at once, XLA's in-process collectives deadlocked
here (both worker threads of a 2-core machine waiting at one device's rendezvous).
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from w2v_jax import step as step_lib

AXIS = "replica"
MERGES = ("sum", "mean")
BARRIER_TIMEOUT_S = 24 * 3600  # A process that never arrives is a dead one; the heartbeat says so.


@struct.dataclass
class ReplicaState:
  """Every replica's train state, stacked, and the tables of the last merge (sum mode)."""

  train: step_lib.TrainState  # Every leaf [R, ...].
  anchor: dict[str, jax.Array] | None  # [R, rows, D] per table (identical copies); None: mean.


def make_mesh(per_process: int) -> Mesh:
  """A 1-D mesh over the first `per_process` local devices of every process."""
  devices = []
  for process in range(jax.process_count()):
    local = [d for d in jax.devices() if d.process_index == process]
    if per_process > len(local):
      raise ValueError(f"--replicas={per_process}: process {process} has only {len(local)} "
                       f"devices (on a CPU, experiments.train makes one per core)")
    devices.extend(local[:per_process])
  return Mesh(np.asarray(devices), (AXIS,))


def _put(tree: Any, sharding_of) -> Any:
  """Host arrays -> global arrays, each process supplying its own devices' slices.

  `make_array_from_callback` (not `device_put`) so that it works when the mesh spans processes
  that each hold the same host data.
  """
  def put(x):
    x = np.asarray(x)
    return jax.make_array_from_callback(x.shape, sharding_of(x), lambda index: x[index])

  return jax.tree_util.tree_map(put, tree)


def replicate(state: step_lib.TrainState, mesh: Mesh, merge: str) -> ReplicaState:
  """R copies of `state` split over the mesh; replica r draws from fold_in(key, r)."""
  replicas = mesh.size
  host = jax.device_get(state)
  stacked = jax.tree_util.tree_map(lambda x: np.stack([np.asarray(x)] * replicas), host)
  keys = np.stack([np.asarray(jax.random.fold_in(state.key, r)) for r in range(replicas)])
  stacked = stacked.replace(key=keys)
  anchor = dict(stacked.params) if merge == "sum" else None
  return put_state(ReplicaState(stacked, anchor), mesh)


def put_state(rstate: ReplicaState, mesh: Mesh) -> ReplicaState:
  """A host (or restored) ReplicaState onto the mesh, split by replica."""
  return _put(rstate, lambda x: NamedSharding(mesh, P(AXIS)))


def put_batches(batches: dict[str, np.ndarray], mesh: Mesh,
                shared_keys: tuple[str, ...] = ()) -> dict[str, jax.Array]:
  """[steps, R * B, ...] host batches: the batch axis split over replicas (shared keys: whole)."""
  def spec(key):
    return P() if key in shared_keys else P(None, AXIS)

  return {k: _put(v, lambda x, k=k: NamedSharding(mesh, spec(k))) for k, v in batches.items()}


def process_barrier(name: str, timeout_s: float = BARRIER_TIMEOUT_S) -> None:
  """Returns when every process has reached the barrier `name` (at once, in one process).

  Every process must pass the same names in the same order; a name is used once.
  """
  if jax.process_count() == 1:
    return
  from jax._src import distributed  # pylint: disable=import-outside-toplevel

  # The coordination service's barrier, as jax.experimental.array_serialization uses it.
  distributed.global_state.client.wait_at_barrier(name, timeout_in_ms=int(timeout_s * 1000))


def to_host(tree: Any) -> Any:
  """Global arrays as NumPy on every process (an all-gather across processes where needed)."""
  def get(x):
    if isinstance(x, jax.Array) and not x.is_fully_addressable and x.is_fully_replicated:
      return np.asarray(x.addressable_shards[0].data)  # Every process holds all of it.
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
      from jax.experimental import multihost_utils  # pylint: disable=import-outside-toplevel

      return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(jax.device_get(x))

  return jax.tree_util.tree_map(get, tree)


def merge_tables(params: dict[str, jax.Array], anchor: dict[str, jax.Array] | None,
                 merge: str) -> dict[str, jax.Array]:
  """One replica's view of the merged tables; call inside the mapped function (uses AXIS)."""
  if merge not in MERGES:
    raise ValueError(f"merge must be one of {MERGES}, not {merge!r}")
  if merge == "mean":
    return {k: jax.lax.pmean(v, AXIS) for k, v in params.items()}
  return {k: anchor[k] + jax.lax.psum(v - anchor[k], AXIS) for k, v in params.items()}


def _local(fn):
  """Runs `fn` on one replica's state with its leading [1] axis removed, and put back."""
  def wrapped(rstate, *args):
    squeeze = functools.partial(jax.tree_util.tree_map, lambda x: x[0])
    out_state, *rest = fn(squeeze(rstate), *args)
    expand = functools.partial(jax.tree_util.tree_map, lambda x: x[None])
    return (expand(out_state), *rest)

  return wrapped


def replica_steps(
    rstate: ReplicaState, batches: step_lib.Batch, *, tx: optax.GradientTransformation,
    objective: Any, sync_every: int, merge: str,
) -> tuple[ReplicaState, dict[str, jax.Array]]:
  """One replica's scan over its share of a block, merging after every `sync_every`-th step.

  Runs inside `shard_map` (see `jit_replica_steps`); `sync_every` 0 never merges.
  """

  def body(rs: ReplicaState, batch):
    train, metrics = step_lib.train_step(rs.train, batch, tx=tx, objective=objective)
    if not sync_every:
      return rs.replace(train=train), metrics

    def merged(rs):
      params = merge_tables(rs.train.params, rs.anchor, merge)
      return rs.replace(train=rs.train.replace(params=params),
                        anchor=params if rs.anchor is not None else None)

    rs = rs.replace(train=train)
    # Every replica has the same step count, so all take the same branch of the collective.
    rs = jax.lax.cond(train.step % sync_every == 0, merged, lambda rs: rs, rs)
    return rs, metrics

  return jax.lax.scan(body, rstate, batches)


def _combine_metrics(metrics: dict[str, jax.Array]) -> dict[str, jax.Array]:
  """Per-replica step metrics [steps] -> the same over all replicas, one collective per call.

  Every metric but "count" is a mean per prediction (the step's), so each is combined as the
  mean over every replica's predictions, whatever metrics the objective returns.
  """
  count = metrics["count"]
  sums = jax.lax.psum({k: v * count for k, v in metrics.items() if k != "count"} | {
      "count": count}, AXIS)
  total = sums.pop("count")
  return {**{k: v / jnp.maximum(total, 1.0) for k, v in sums.items()}, "count": total}


def jit_replica_steps(
    mesh: Mesh, *, tx: optax.GradientTransformation, objective: Any,
    sync_every: int, merge: str,
):
  """jit(shard_map(replica_steps)): (ReplicaState, [steps, R*B] batches) -> (state, metrics).

  Metrics come back [steps], over all replicas (replicated, so every process can read them);
  the state is donated.
  """
  shared = tuple(objective.shared_keys)
  fn = functools.partial(replica_steps, tx=tx, objective=objective, sync_every=sync_every,
                         merge=merge)

  def mapped(rs, batches):
    rs, metrics = _local(fn)(rs, batches)
    return rs, _combine_metrics(metrics)

  # No VMA check: a merge's psum makes the tables invariant across replicas in one branch of
  # the lax.cond and not in the other; both are correct here.
  def run(rs, batches):
    batch_spec = {k: P() if k in shared else P(None, AXIS) for k in batches}
    return jax.shard_map(mapped, mesh=mesh, in_specs=(P(AXIS), batch_spec),
                         out_specs=(P(AXIS), P()), check_vma=False)(rs, batches)

  return jax.jit(run, donate_argnums=0)


def make_merged_table(mesh: Mesh, merge: str):
  """fn(ReplicaState, name) -> one table as the next merge would make it, as NumPy.

  The state is not changed. Compiled once per table name (evaluation and export call it); the
  merged table is invariant across replicas, so it comes back as one replicated copy.
  """

  @functools.partial(jax.jit, static_argnums=1)
  def merged(rs, name):
    def view(rs):
      anchor = None if rs.anchor is None else {name: rs.anchor[name][0]}
      return merge_tables({name: rs.train.params[name][0]}, anchor, merge)[name]

    return jax.shard_map(view, mesh=mesh, in_specs=(P(AXIS),), out_specs=P(),
                         check_vma=False)(rs)

  def merged_table(rstate: ReplicaState, name: str) -> np.ndarray:
    return to_host(merged(rstate, name))

  return merged_table
