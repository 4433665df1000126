"""w2v_jax: word2vec (skip-gram with negative sampling) in JAX, Flax and Optax.

The reusable pieces (loaded on first use, so `import w2v_jax.io_utils` does not import JAX):
  train_step / train_steps  the pure step (jit it yourself) and its lax.scan over a chunk
  TrainState, create_train_state, make_optimizer, make_schedule, StepSettings, sparse_update
  example_loss, Word2Vec    the per-example loss and the Flax module
  skipgram_pairs, subsample, draw_windows, word2vec_keep_prob, zipf_sampling_table
"""

import importlib

_EXPORTS = {
    "w2v_jax.model": ("Word2Vec", "example_loss"),
    "w2v_jax.pairs": ("draw_windows", "skipgram_pairs", "subsample", "word2vec_keep_prob",
                      "zipf_sampling_table"),
    "w2v_jax.step": ("StepSettings", "TrainState", "create_train_state", "make_optimizer",
                     "make_schedule", "sparse_update", "train_step", "train_steps"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
  if name not in _MODULE_OF:
    raise AttributeError(f"module 'w2v_jax' has no attribute {name!r}")
  return getattr(importlib.import_module(_MODULE_OF[name]), name)
