"""Shared fixtures; rank promotion raises so silent broadcasting shows up as an error."""

import gzip
import os
import sys

import jax
import pytest

jax.config.update("jax_numpy_rank_promotion", "raise")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)


# Unit vectors with king - man + woman == queen exactly (and queen - woman + man == king);
# man's neighbours are apple (0.8), then woman (0.64).
TINY_VECTORS = {
    "man": (0.6, 0.0, -0.8),
    "woman": (0.0, 0.6, -0.8),
    "king": (0.6, 0.0, 0.8),
    "queen": (0.0, 0.6, 0.8),
    "apple": (0.0, 0.0, -1.0),
}


def planted_corpus(num_topics: int = 4, words_per_topic: int = 6, sentences: int = 1500,
                   length: int = 8, seed: int = 0) -> list[str]:
  """Sentences that each draw all their words from one topic: t<k>w<i>."""
  import numpy as np  # pylint: disable=import-outside-toplevel

  rng = np.random.default_rng(seed)
  lines = []
  for _ in range(sentences):
    topic = rng.integers(num_topics)
    words = rng.integers(words_per_topic, size=length)
    lines.append(" ".join(f"t{topic}w{w}" for w in words))
  return lines


@pytest.fixture
def planted_file(tmp_path):
  path = tmp_path / "planted.txt.gz"
  with gzip.open(path, "wt", encoding="utf-8") as f:
    f.write("\n".join(planted_corpus()) + "\n")
  return str(path)
