"""fastText's subwords: the character n-grams of `<word>`, hashed into buckets as fastText does.

A word's n-grams are the substrings of "<" + word + ">" of `minn` to `maxn` characters (UTF-8
characters, not bytes), the whole bracketed word among them when it is short enough; each is
hashed with 32-bit FNV-1a over its bytes, where a byte >= 0x80 is sign-extended first (fastText's
`int8_t` cast, kept by fastText and gensim >= 3.7 for compatibility), and its bucket is
hash % bucket. fastText's `Dictionary::computeSubwords` is the reference.

The vocabulary's n-grams are computed once, vectorized over all of them, and kept as one flat
array with offsets (`Subwords`); `Subwords.of_slots` lays out a block's n-gram rows, vectorized
too: no Python loop per n-gram, example or training step.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence

import numpy as np

FNV_OFFSET = 2166136261
FNV_PRIME = 16777619


def fnv1a(data: bytes) -> int:
  """fastText's hash of one byte string (the reference for the vectorized `hash_spans`)."""
  h = FNV_OFFSET
  for byte in data:
    h ^= byte | 0xFFFFFF00 if byte >= 0x80 else byte  # uint32(int8_t(byte)).
    h = (h * FNV_PRIME) & 0xFFFFFFFF
  return h


def ngrams(word: str, minn: int, maxn: int) -> list[str]:
  """The n-grams of one word in fastText's order: by start character, then by length."""
  chars = "<" + word + ">"
  out = []
  for i in range(len(chars)):
    for n in range(1, maxn + 1):
      if i + n > len(chars):
        break
      if n >= minn and not (n == 1 and (i == 0 or i + n == len(chars))):
        out.append(chars[i:i + n])
  return out


@dataclasses.dataclass(frozen=True)
class Spans:
  """Byte spans of n-grams inside one buffer: n-gram j is buffer[start[j]:end[j]], of `word[j]`."""

  buffer: np.ndarray  # uint8, every "<word>" one after another
  start: np.ndarray  # int64 [N]
  end: np.ndarray  # int64 [N]
  word: np.ndarray  # int64 [N], in fastText's order within each word


def ngram_spans(words: Sequence[str], minn: int, maxn: int) -> Spans:
  """Every n-gram of every word, as byte spans, found with array arithmetic over characters."""
  encoded = [("<" + w + ">").encode("utf-8") for w in words]
  lengths = np.fromiter(map(len, encoded), np.int64, len(encoded))
  buffer = np.frombuffer(b"".join(encoded), np.uint8)
  word_start = np.concatenate([[0], np.cumsum(lengths)])
  # Characters start at bytes that are not UTF-8 continuation bytes (10xxxxxx).
  char_byte = np.flatnonzero((buffer & 0xC0) != 0x80)
  char_word = np.searchsorted(word_start, char_byte, side="right") - 1
  chars_per_word = np.bincount(char_word, minlength=len(words))
  first_char = np.concatenate([[0], np.cumsum(chars_per_word)])
  char_index = np.arange(len(char_byte)) - first_char[char_word]  # i: position in its word.
  # The byte where character k + n starts, or its word's end when k + n is past the last one.
  next_start = np.concatenate([char_byte, [len(buffer)]])
  starts, ends, owners, order_i, order_n = [], [], [], [], []
  for n in range(max(minn, 1), maxn + 1):
    fits = char_index + n <= chars_per_word[char_word]
    if n == 1:  # fastText never takes "<" or ">" alone.
      fits &= (char_index != 0) & (char_index + 1 != chars_per_word[char_word])
    k = np.flatnonzero(fits)
    last = char_index[k] + n == chars_per_word[char_word[k]]
    ends.append(np.where(last, word_start[char_word[k] + 1], next_start[np.minimum(
        k + n, len(char_byte))]))
    starts.append(char_byte[k])
    owners.append(char_word[k])
    order_i.append(char_index[k])
    order_n.append(np.full(len(k), n))
  start, end, word = (np.concatenate(x) if x else np.zeros(0, np.int64)
                      for x in (starts, ends, owners))
  order = np.lexsort((np.concatenate(order_n), np.concatenate(order_i), word))
  return Spans(buffer, start[order], end[order], word[order])


def hash_spans(spans: Spans) -> np.ndarray:
  """FNV-1a (fastText's, sign-extended bytes) of every span at once: uint32 [N]."""
  h = np.full(len(spans.start), FNV_OFFSET, np.uint32)
  length = spans.end - spans.start
  signed = spans.buffer.view(np.int8).astype(np.int32).view(np.uint32)
  for j in range(int(length.max(initial=0))):
    live = length > j
    byte = signed[np.where(live, spans.start + j, 0)]
    h = np.where(live, (h ^ byte) * np.uint32(FNV_PRIME), h)
  return h


@dataclasses.dataclass(frozen=True)
class Subwords:
  """Each word's n-gram buckets, compactly: word w's are ids[offsets[w]:offsets[w + 1]]."""

  offsets: np.ndarray  # int64 [V + 1]
  ids: np.ndarray  # int32 [total n-grams], in [0, bucket)
  bucket: int

  @functools.cached_property
  def counts(self) -> np.ndarray:
    """How many n-grams each word has, [V] (read for every block, so computed once)."""
    return np.diff(self.offsets)

  def of(self, word_index: int) -> np.ndarray:
    return self.ids[self.offsets[word_index]:self.offsets[word_index + 1]]

  def of_slots(self, words: np.ndarray, live: np.ndarray, chunks: int = 1
               ) -> tuple[np.ndarray, np.ndarray]:
    """The n-gram rows of a block's input slots, flat: (ids, slots), each int32 [steps, chunks * C].

    `words`, `live`: [steps, N, S], N = chunks * n. Chunk c (columns c*n:(c+1)*n, a replica's)
    owns entries c*C:(c+1)*C, each the bucket of one n-gram of one live slot and that slot's
    index within the chunk, b * S + s; in slot order, then n-gram order. Padding: id -1, slot 0.
    C, the most any (step, chunk) needs rounded up (`capacity`), keeps the cost of a step that of
    its n-grams rather than of the longest word's.
    """
    steps, columns, width = words.shape
    groups, per_group = steps * chunks, columns // chunks * width
    lengths = np.where(live, self.counts[words], 0).reshape(-1)
    totals = lengths.reshape(groups, per_group).sum(axis=1)
    size = capacity(int(totals.max(initial=0)))
    slot = np.repeat(np.arange(lengths.size), lengths)  # Of every entry, over the whole block.
    first = np.cumsum(lengths) - lengths  # Each slot's first entry.
    entry = np.arange(slot.size)
    ids = self.ids[self.offsets[words.reshape(-1)][slot] + entry - first[slot]]
    group = slot // per_group
    position = entry - (np.cumsum(totals) - totals)[group]
    out_ids = np.full((groups, size), -1, np.int32)
    out_slots = np.zeros((groups, size), np.int32)
    out_ids[group, position] = ids
    out_slots[group, position] = slot % per_group
    return out_ids.reshape(steps, chunks * size), out_slots.reshape(steps, chunks * size)


def capacity(needed: int, least: int = 64) -> int:
  """`needed` rounded up to 2^k times 1, 1.125, ..., 1.875: at most 12.5% padding (padded
  entries still cost their share of the n-gram sums), and few distinct shapes (each compiles the
  step once; an epoch of the bench corpus at 128 windows a step needs two)."""
  if needed <= least:
    return least
  top = 1 << (needed - 1).bit_length()  # The power of two at or above.
  return next(top // 16 * m for m in range(8, 17) if top // 16 * m >= needed)


def subwords(words: Sequence[str], minn: int, maxn: int, bucket: int,
             skip: Sequence[str] = ("</s>",)) -> Subwords:
  """The n-gram buckets of every word of a vocabulary; words in `skip` get none (fastText's
  end-of-sentence token)."""
  if not 1 <= minn <= maxn:
    raise ValueError(f"--minn={minn} --maxn={maxn}: need 1 <= minn <= maxn")
  if bucket < 1:
    raise ValueError(f"--bucket={bucket}: must be >= 1 with subwords")
  spans = ngram_spans(words, minn, maxn)
  skipped = np.array([w in set(skip) for w in words], bool)
  keep = ~skipped[spans.word]
  ids = (hash_spans(spans) % np.uint32(bucket)).astype(np.int32)[keep]
  counts = np.bincount(spans.word[keep], minlength=len(words))
  return Subwords(np.concatenate([[0], np.cumsum(counts)]), ids, bucket)


@dataclasses.dataclass(frozen=True)
class SubwordVectors:
  """Word vectors composed from rows, as fastText composes them.

  A vocabulary word's vector is the mean of its own row and its n-gram rows; any other word's,
  the mean of its n-gram rows; a word without n-grams (none of `minn` characters) has none.
  """

  words: tuple[str, ...]
  word_rows: np.ndarray  # [V, D]
  ngram_rows: np.ndarray  # [bucket, D]
  minn: int
  maxn: int

  @property
  def bucket(self) -> int:
    return len(self.ngram_rows)

  @functools.cached_property
  def index(self) -> dict[str, int]:
    return {w: i for i, w in enumerate(self.words)}

  @functools.cached_property
  def table(self) -> Subwords:
    return subwords(self.words, self.minn, self.maxn, self.bucket)

  def vocabulary_vectors(self, chunk: int = 4096) -> np.ndarray:
    """[V, D]: every vocabulary word's composed vector (chunked: no [V, G, D] temporary).

    A word's n-grams are consecutive, so their rows sum with one `np.add.reduceat` per chunk
    (`np.add.at` took 3.3 s on the bench corpus' 51k words, this 0.2 s).
    """
    table = self.table
    out = np.array(self.word_rows, np.float32, copy=True)
    counts = table.counts
    for start in range(0, len(out), chunk):
      stop = min(start + chunk, len(out))
      lo, hi = table.offsets[start], table.offsets[stop]
      if hi == lo:
        continue
      has = np.flatnonzero(counts[start:stop]) + start  # reduceat's empty segments are not 0.
      sums = np.add.reduceat(self.ngram_rows[table.ids[lo:hi]], table.offsets[has] - lo, axis=0)
      out[has] += sums
    return out / (1 + counts)[:, None]

  def vector(self, word: str) -> np.ndarray | None:
    """Any word's vector: its own row's mean with its n-grams', or its n-grams' alone (OOV)."""
    ids = subwords([word], self.minn, self.maxn, self.bucket, skip=()).ids
    index = self.index.get(word)
    rows = self.ngram_rows[ids]
    if index is not None:
      return (self.word_rows[index] + rows.sum(axis=0)) / (1 + len(ids))
    return rows.mean(axis=0) if len(ids) else None
