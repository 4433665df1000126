"""word2vec.c's vector files, text and binary: written and read (gensim's `load_word2vec_format`
reads both)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

import numpy as np

from w2v_jax import io_utils


def format_rows(vectors: np.ndarray, sep: str, chunk: int = 1024) -> Iterator[str]:
  """Each row as text, `%.9g` per number: the fewest digits that give back every float32.

  One `%` per row runs the formatting in C; `repr(float(x))` per number took three times as long
  and wrote each float32's float64 expansion (17 digits where 9 do). Rows become Python floats
  `chunk` at a time: the whole table at once is 32 bytes per number (160 MB at 51k x 100).
  """
  fmt = sep.join(["%.9g"] * vectors.shape[1])
  for start in range(0, len(vectors), chunk):
    for row in np.asarray(vectors[start:start + chunk], np.float32).tolist():
      yield fmt % tuple(row)


def check_words(words: Sequence[str]) -> None:
  """ValueError naming the first word the format cannot hold (empty, or with whitespace)."""
  for w in words:
    if not w or any(c.isspace() for c in w):
      raise ValueError(f"word {w!r} cannot be written in word2vec format (empty or whitespace)")


def write(path: str, words: Sequence[str], vectors: np.ndarray, binary: bool) -> None:
  """`words` and their `vectors` in word2vec.c's format; '' rows (padding) are skipped.

  Rows are written straight from `vectors`, without a copy of the kept ones (20 MB at 51k x 100).
  """
  kept = [w for w in words if w != ""]
  check_words(kept)
  with io_utils.atomic_open(path, "wb") as f:
    f.write(f"{len(kept)} {vectors.shape[1]}\n".encode())
    if binary:
      for word, vec in zip(words, vectors):
        if word:
          f.write(word.encode("utf-8") + b" " + np.asarray(vec, "<f4").tobytes() + b"\n")
    else:
      for word, line in zip(words, format_rows(vectors, " ")):
        if word:
          f.write(f"{word} {line}\n".encode("utf-8"))


def _parse_header(line: bytes, path: str) -> tuple[int, int]:
  parts = line.split()
  if len(parts) != 2 or not all(p.isdigit() for p in parts):
    raise ValueError(f"{path}: line 1: expected a '<count> <dim>' header, got {line[:80]!r}")
  return int(parts[0]), int(parts[1])


def read(path: str, binary: bool | None = None) -> tuple[list[str], np.ndarray]:
  """The words and vectors of a text or binary file (binary guessed from a '.bin' suffix when
  None); a bad file raises ValueError naming it and the line."""
  if binary is None:
    binary = path.endswith(".bin")
  if not os.path.isfile(path):
    raise ValueError(f"{path}: no such file")
  words: list[str] = []
  with open(path, "rb") as f:
    count, dim = _parse_header(f.readline(), path)
    vectors = np.empty((count, dim), np.float32)
    for i in range(count):
      if binary:
        word = bytearray()
        while (ch := f.read(1)) != b" ":
          if not ch:
            raise ValueError(f"{path}: ends after {i} of {count} vectors")
          if ch != b"\n":  # word2vec.c ends each vector with a newline before the next word.
            word += ch
        raw = f.read(4 * dim)
        if len(raw) != 4 * dim:
          raise ValueError(f"{path}: vector {i + 1} is truncated")
        vectors[i] = np.frombuffer(raw, "<f4")
        words.append(word.decode("utf-8"))
      else:
        parts = f.readline().rstrip(b"\r\n").split(b" ")
        if len(parts) != dim + 1:
          raise ValueError(f"{path}: line {i + 2}: expected a word and {dim} numbers")
        words.append(parts[0].decode("utf-8"))
        try:
          vectors[i] = np.asarray(parts[1:], dtype=np.float32)
        except ValueError:
          raise ValueError(f"{path}: line {i + 2}: not a number") from None
  return words, vectors
