"""Data parallelism on 4 forced host devices gives the single-device result."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT

SCRIPT = textwrap.dedent("""
    import functools, json
    import jax, jax.numpy as jnp, numpy as np
    from w2v_jax import objectives, parallel, step as step_lib

    assert jax.device_count() == 4, jax.devices()
    V, D, S, B = 102, 16, 6, 64  # V not a multiple of 4: row sharding pads it.
    rng = np.random.default_rng(0)
    batches = {"centres": rng.integers(0, V, (S, B)).astype(np.int32),
               "contexts": rng.integers(0, V, (S, B, 4)).astype(np.int32),
               "mask": (rng.random((S, B, 4)) < 0.7).astype(np.float32),
               "negatives": rng.integers(0, V, (S, B, 5)).astype(np.int32)}
    objective = objectives.word2vec()
    out = {}
    for name in ("sgd", "adam"):
      tx = step_lib.make_optimizer(name, 0.05, 100)
      fn = functools.partial(step_lib.train_steps, tx=tx, objective=objective)
      results = {}
      for mode, devices in (("single", jax.devices()[:1]), ("replicated", None), ("rows", None)):
        mesh = parallel.make_mesh(devices)
        rows = parallel.padded_rows(V, mesh, mode)
        state = step_lib.create_train_state(jax.random.PRNGKey(0), objective.tables(rows), D, tx)
        # Same starting tables whatever the padding.
        init = step_lib.create_train_state(jax.random.PRNGKey(0), objective.tables(V), D, tx)
        params = {k: jnp.zeros((rows, D)).at[:V].set(init.params[k] + 0.01 * (k == "output"))
                  for k in init.params}
        state = state.replace(params=params)
        state = parallel.shard_state(state, mesh, "rows" if mode == "rows" else "replicated")
        train = parallel.jit_sharded(fn, state, mesh, "rows" if mode == "rows" else "replicated")
        state, metrics = train(state, parallel.put_batches(batches, mesh))
        if mode == "rows":
          assert len(state.params["input"].sharding.device_set) == 4
          shard = state.params["input"].addressable_shards[0].data.shape
          assert shard == (rows // 4, D), shard
        results[mode] = {k: np.asarray(v)[:V] for k, v in state.params.items()}
        results[mode]["loss"] = np.asarray(metrics["loss"])
      out[name] = {mode: max(float(np.max(np.abs(results[mode][k] - results["single"][k])))
                             for k in ("input", "output", "loss"))
                   for mode in ("replicated", "rows")}
      out[name]["moved"] = float(np.max(np.abs(results["single"]["input"] - np.asarray(
          init.params["input"]))))
    print(json.dumps(out))
""")


@pytest.mark.slow
def test_four_host_devices_match_one_device():
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4",
             PYTHONPATH=ROOT, JAX_PLATFORMS="cpu")
  result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          env=env, timeout=300, cwd=ROOT)
  assert result.returncode == 0, result.stderr[-3000:]
  diffs = json.loads(result.stdout.strip().splitlines()[-1])
  for optimizer, by_mode in diffs.items():
    assert by_mode["moved"] > 1e-3, "training did not change the tables"
    # Summation order across devices may differ from one device: a float32 tolerance.
    assert by_mode["replicated"] < 1e-5, (optimizer, by_mode)
    assert by_mode["rows"] < 1e-5, (optimizer, by_mode)
