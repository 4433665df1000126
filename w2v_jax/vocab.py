"""Vocabulary: word counts, pruning, deterministic order, TSV save/load."""

from __future__ import annotations

import collections
import dataclasses
import functools
from collections.abc import Iterable, Mapping

import numpy as np

from w2v_jax import io_utils

PAD = ""
UNK = "[UNK]"


@dataclasses.dataclass(frozen=True, eq=False)
class Vocab:
  """Words in id order with their corpus counts; optional reserved '' (id 0) and [UNK] (id 1)."""

  words: tuple[str, ...]
  counts: np.ndarray  # int64 [V]; '' has count 0, [UNK] counts the tokens mapped to it.
  reserved: bool = False

  def __len__(self) -> int:
    return len(self.words)

  @functools.cached_property
  def index(self) -> dict[str, int]:
    return {w: i for i, w in enumerate(self.words)}

  @property
  def pad_id(self) -> int | None:
    return 0 if self.reserved else None

  @property
  def unk_id(self) -> int | None:
    return 1 if self.reserved else None


def count_words(sentences: Iterable[list[str]]) -> collections.Counter:
  """Token counts over a stream of token lists."""
  counts: collections.Counter = collections.Counter()
  for tokens in sentences:
    counts.update(tokens)
  return counts


def build_vocab(
    counts: Mapping[str, int],
    min_count: int = 5,
    max_size: int | None = None,
    reserved: bool = False,
    tie_break: str = "ascending",
) -> Vocab:
  """Words with count >= min_count, count descending, ties by word (ascending or descending).

  With `reserved`, ids 0 and 1 are '' and '[UNK]' and `max_size` counts them (Keras semantics).
  """
  if min_count < 1:
    raise ValueError(f"min_count must be >= 1, got {min_count}")
  if max_size is not None and max_size < (3 if reserved else 1):
    raise ValueError(f"max_size {max_size} leaves no room for words")
  if tie_break not in ("ascending", "descending"):
    raise ValueError(f"tie_break must be 'ascending' or 'descending', got {tie_break!r}")
  kept = [(w, c) for w, c in counts.items() if c >= min_count and w not in (PAD, UNK)]
  if tie_break == "ascending":
    kept.sort(key=lambda wc: (-wc[1], wc[0]))
  else:  # Keras: np.lexsort((tokens, counts))[::-1], i.e. count then token, both descending.
    kept.sort(key=lambda wc: (wc[1], wc[0]), reverse=True)
  if max_size is not None:
    kept = kept[: max_size - (2 if reserved else 0)]
  if not kept:
    raise ValueError(f"no word occurs at least min_count={min_count} times")
  words = tuple(w for w, _ in kept)
  word_counts = [c for _, c in kept]
  if reserved:
    unk = sum(counts.values()) - sum(word_counts) - counts.get(PAD, 0)
    words = (PAD, UNK) + words
    word_counts = [0, unk] + word_counts
  return Vocab(words, np.asarray(word_counts, np.int64), reserved)


def save_vocab(vocab: Vocab, path: str) -> None:
  """Writes `word<TAB>count` lines in id order, atomically."""
  lines = "".join(f"{w}\t{c}\n" for w, c in zip(vocab.words, vocab.counts.tolist()))
  io_utils.atomic_write_text(path, lines)


def load_vocab(path: str) -> Vocab:
  """Reads a file written by `save_vocab`; a malformed line raises ValueError naming it."""
  words, counts = [], []
  with open(path, encoding="utf-8") as f:
    for lineno, line in enumerate(f, 1):
      parts = line.rstrip("\n").split("\t")
      if len(parts) != 2 or not parts[1].isdigit():
        raise ValueError(f"{path}: line {lineno}: expected 'word<TAB>count', got {line!r}")
      words.append(parts[0])
      counts.append(int(parts[1]))
  reserved = words[:2] == [PAD, UNK]
  return Vocab(tuple(words), np.asarray(counts, np.int64), reserved)
