"""w2v_jax: the word2vec family (skip-gram, CBOW; negative sampling, hierarchical softmax;
fastText's subwords) in JAX.

The reusable pieces (loaded on first use, so `import w2v_jax.io_utils` does not import JAX):
  train_and_evaluate        a whole run (corpus, checkpoints, evaluation, export) of any objective
  Config                    its settings
  train_step / train_steps  the pure generic step (jit it yourself) and its lax.scan over a chunk
  TrainState, create_train_state, make_optimizer, make_schedule, sparse_update
  Objective, Base, Rows, Needs   what an objective is, its defaults, the rows and features it asks
  Word2Vec, word2vec        the family, built from parts or by name
  Tables                    the Flax module holding the named tables
  build_huffman             word2vec.c's hierarchical-softmax tree
  skipgram_pairs, window_examples, subsample, draw_windows, word2vec_keep_prob,
  zipf_sampling_table
"""

import importlib

_EXPORTS = {
    "w2v_jax.huffman": ("build_huffman",),
    "w2v_jax.model": ("Tables",),
    "w2v_jax.config": ("Config",),
    "w2v_jax.objectives": ("Base", "Needs", "Objective", "Rows", "Word2Vec", "word2vec"),
    "w2v_jax.train": ("train_and_evaluate",),
    "w2v_jax.pairs": ("draw_windows", "skipgram_pairs", "subsample", "window_examples",
                      "word2vec_keep_prob", "zipf_sampling_table"),
    "w2v_jax.step": ("TrainState", "create_train_state", "make_optimizer", "make_schedule",
                     "sparse_update", "train_step", "train_steps"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
  if name not in _MODULE_OF:
    raise AttributeError(f"module 'w2v_jax' has no attribute {name!r}")
  return getattr(importlib.import_module(_MODULE_OF[name]), name)
