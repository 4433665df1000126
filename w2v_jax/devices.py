"""The devices a run sees: host devices from a CPU's cores, replicas and threads per process."""

from __future__ import annotations

import os

import jax


def use_host_devices(replicas: int) -> None:
  """Makes a CPU's cores (or `replicas`) JAX host devices: one replica each by default.

  Call before JAX starts its backends (before the first array or device query); where
  XLA_FLAGS already forces a device count, that count stands. GPUs and TPUs are unaffected.
  """
  if "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", ""):
    return
  jax.config.update("jax_num_cpu_devices", replicas or cores())


def cores() -> int:
  """The cores this process may run on."""
  return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def replica_count(requested: int) -> int:
  """Replicas in every process: `requested`, or 0 for one per local device."""
  return requested or jax.local_device_count()


def thread_count(requested: int) -> int:
  """--threads, or the cores this process may run on."""
  return requested or cores()
