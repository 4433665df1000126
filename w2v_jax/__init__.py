"""w2v_jax: word2vec (skip-gram with negative sampling) in JAX, Flax and Optax.

The reusable pieces, importable without side effects:
  train_step / train_steps  the pure step (jit it yourself) and its lax.scan over a chunk
  TrainState, create_train_state, make_optimizer, StepSettings, sparse_update
  example_loss, Word2Vec    the per-example loss and the Flax module
  skipgram_pairs, subsample, draw_windows, word2vec_keep_prob, zipf_sampling_table
"""

from w2v_jax.model import Word2Vec, example_loss
from w2v_jax.pairs import (draw_windows, skipgram_pairs, subsample, word2vec_keep_prob,
                           zipf_sampling_table)
from w2v_jax.step import (StepSettings, TrainState, create_train_state, make_optimizer,
                          sparse_update, train_step, train_steps)

__all__ = [
    "StepSettings", "TrainState", "Word2Vec", "create_train_state", "draw_windows",
    "example_loss", "make_optimizer", "skipgram_pairs", "sparse_update", "subsample",
    "train_step", "train_steps", "word2vec_keep_prob", "zipf_sampling_table",
]
