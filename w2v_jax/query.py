"""Nearest neighbours, analogies and similarities of trained word vectors."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

import numpy as np

from w2v_jax import evaluate, fasttext_format, word2vec_format
from w2v_jax.subwords import SubwordVectors


@dataclasses.dataclass(frozen=True, eq=False)
class Embeddings:
  """Words (row i = words[i]) and their vectors, with unit vectors cached for cosine queries.

  With `subwords` (a fastText model's rows), a word outside the vocabulary still has a vector,
  from its character n-grams.
  """
  words: tuple[str, ...]
  vectors: np.ndarray
  subwords: SubwordVectors | None = None
  unit: np.ndarray = dataclasses.field(init=False, repr=False)
  index: dict[str, int] = dataclasses.field(init=False, repr=False)

  def __post_init__(self):
    vectors = np.asarray(self.vectors)
    if vectors.ndim != 2 or vectors.shape[0] != len(self.words):
      raise ValueError(f"expected vectors of shape ({len(self.words)}, dim), got {vectors.shape}")
    index: dict[str, int] = {}
    for i, word in enumerate(self.words):
      index.setdefault(word, i)
    object.__setattr__(self, "words", tuple(self.words))
    object.__setattr__(self, "vectors", vectors)
    object.__setattr__(self, "unit", evaluate.normalize(vectors.astype(np.float32, copy=False)))
    object.__setattr__(self, "index", index)

  def __len__(self) -> int:
    return len(self.words)

  def __contains__(self, word: str) -> bool:
    return word in self.index

  def row(self, word: str) -> int:
    """Row of `word`; KeyError naming it if it is not in the vocabulary."""
    try:
      return self.index[word]
    except KeyError:
      raise KeyError(f"word {word!r} is not in the vocabulary ({len(self.words)} words)") from None

  def vector(self, word: str) -> np.ndarray:
    """A word's vector: its row, or (with subwords) the mean of its n-gram rows.

    KeyError naming the word when it has none.
    """
    if word in self.index:
      return self.vectors[self.index[word]]
    if self.subwords is None:
      raise KeyError(f"word {word!r} is not in the vocabulary ({len(self.words)} words)")
    vector = self.subwords.vector(word)
    if vector is None:
      raise KeyError(f"word {word!r} has no vector: not in the vocabulary, and no n-gram of "
                     f"{self.subwords.minn}-{self.subwords.maxn} characters")
    return vector

  def _unit_of(self, word: str) -> np.ndarray:
    if word in self.index:
      return self.unit[self.index[word]]
    return evaluate.normalize(np.asarray(self.vector(word), np.float32)[None, :])[0]

  def similarity(self, word1: str, word2: str) -> float:
    """Cosine similarity of two words (out-of-vocabulary ones through subwords, if any)."""
    return float(self._unit_of(word1) @ self._unit_of(word2))

  def most_similar(
      self, positive: str | Sequence[str], negative: str | Sequence[str] = (), topn: int = 10
  ) -> list[tuple[str, float]]:
    """Neighbours of the mean unit vector of +positive, -negative (3CosAdd); no query words."""
    positive = [positive] if isinstance(positive, str) else list(positive)
    negative = [negative] if isinstance(negative, str) else list(negative)
    if not positive and not negative:
      raise ValueError("most_similar needs at least one word")
    if topn < 1:
      raise ValueError(f"topn must be at least 1, got {topn}")
    units = np.stack([self._unit_of(w) for w in positive + negative])
    rows = [self.index[w] for w in positive + negative if w in self.index]
    weights = np.array([1.0] * len(positive) + [-1.0] * len(negative), np.float32)
    target_D = evaluate.normalize(weights @ units / len(units))
    return self._nearest((self.unit @ target_D)[None, :], [rows], topn)[0]

  def most_similar_batch(
      self, words: Sequence[str], topn: int = 10
  ) -> list[list[tuple[str, float]]]:
    """`most_similar(w, topn=topn)` for each word, computed as matrix products."""
    if topn < 1:
      raise ValueError(f"topn must be at least 1, got {topn}")
    if self.subwords is not None and any(w not in self.index for w in words):
      return [self.most_similar(w, topn=topn) for w in words]  # Some need their n-grams.
    rows = [self.row(w) for w in words]
    results: list[list[tuple[str, float]]] = []
    for chunk in evaluate.chunk_rows(len(rows), len(self.words)):
      scores_QxV = self.unit[rows[chunk]] @ self.unit.T
      results.extend(self._nearest(scores_QxV, [[r] for r in rows[chunk]], topn))
    return results

  def _nearest(
      self, scores_QxV: np.ndarray, exclude: Sequence[Sequence[int]], topn: int
  ) -> list[list[tuple[str, float]]]:
    scores_QxV = np.array(scores_QxV, copy=True)
    for q, rows in enumerate(exclude):
      scores_QxV[q, rows] = -np.inf
    if self.words and self.words[0] == "":
      scores_QxV[:, 0] = -np.inf  # The padding row is not a word.
    best_QxK = evaluate.top_k(scores_QxV, topn)
    return [[(self.words[i], float(s[i])) for i in best if np.isfinite(s[i])]
            for s, best in zip(scores_QxV, best_QxK)]


def nearest_neighbours(words: Sequence[str], vectors: np.ndarray, queries: Sequence[str],
                       topn: int = 8) -> dict[str, list[str]]:
  """The `topn` cosine neighbours of each query word that is in the vocabulary."""
  emb = Embeddings(tuple(words), vectors)
  known = [q for q in queries if q in emb]
  return {q: [n for n, _ in found] for q, found in
          zip(known, emb.most_similar_batch(known, topn=topn))}


def shown_words(wanted: Sequence[str], vocab) -> list[str]:
  """The words of `wanted` in the vocabulary (a vocab.Vocab), else a few frequent ones."""
  found = [w for w in wanted if w in vocab.index]
  if found:
    return found
  start = 2 if vocab.reserved else 0
  return list(vocab.words[start + 20:start + 25])


def load_embeddings(path: str) -> Embeddings:
  """Vectors from a run directory (model.bin, else vectors.bin, else vectors.txt), a fastText
  .bin (any word gets a vector through its n-grams) or a word2vec .bin/text file."""
  if os.path.isdir(path):
    for name in ("model.bin", "vectors.bin", "vectors.txt"):
      if os.path.isfile(os.path.join(path, name)):
        path = os.path.join(path, name)
        break
    else:
      raise ValueError(f"{path}: run directory has no vectors.bin or vectors.txt")
  elif not os.path.isfile(path):
    raise ValueError(f"{path}: no such file or directory")
  if fasttext_format.is_fasttext_bin(path):
    model = fasttext_format.read(path)
    vocab = len(model.words)
    subwords = SubwordVectors(tuple(model.words), model.input[:vocab], model.input[vocab:],
                              int(model.args["minn"]), int(model.args["maxn"]))
    return Embeddings(tuple(model.words), subwords.vocabulary_vectors(), subwords)
  words, vectors = word2vec_format.read(path, binary=path.endswith(".bin"))
  return Embeddings(tuple(words), vectors)
