"""Vector files other tools read: projector TSVs, word2vec text/binary, TensorBoard projector."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

import numpy as np

from w2v_jax import io_utils, logs


def write_projector_tsv(
    vectors_path: str, metadata_path: str, words: Sequence[str], vectors: np.ndarray,
    skip_padding: bool = True,
) -> None:
  """The seed's `vectors.tsv` + `metadata.tsv`: one row per word, the padding row ('') skipped."""
  start = 1 if skip_padding and len(words) and words[0] == "" else 0
  with io_utils.atomic_open(vectors_path, "w", encoding="utf-8") as f:
    f.writelines(line + "\n" for line in format_rows(vectors[start:], "\t"))
  io_utils.atomic_write_text(metadata_path, "".join(w + "\n" for w in words[start:]))


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


def _checked_words(words: Sequence[str]) -> None:
  for w in words:
    if not w or any(c.isspace() for c in w):
      raise ValueError(f"word {w!r} cannot be written in word2vec format (empty or whitespace)")


def write_word2vec(path: str, words: Sequence[str], vectors: np.ndarray, binary: bool) -> None:
  """word2vec.c's format (gensim's `load_word2vec_format` reads both); '' rows are skipped.

  Rows are written straight from `vectors`, without a copy of the kept ones (20 MB at 51k x 100).
  """
  kept = [w for w in words if w != ""]
  _checked_words(kept)
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


def read_word2vec(path: str, binary: bool | None = None) -> tuple[list[str], np.ndarray]:
  """Reads word2vec text or binary format (binary guessed from a '.bin' suffix when None)."""
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


def write_tensorboard_projector(logdir: str, words: Sequence[str], vectors: np.ndarray,
                                tag: str = "word2vec") -> None:
  """A TensorBoard projector embedding of the run in `logdir`, its files under `projector/`.

  The config sits in the run's own directory, so TensorBoard lists the run once (not a second
  `RUN/projector` run). Written here rather than by tensorboardX's `add_embedding`, which
  formats one number per `str()` call (3.6 s for 51k x 100), writes in place, and appends to an
  existing `projector_config.pbtxt`, so a second export listed the embedding twice.
  """
  subdir = f"projector/00000/{tag}"
  os.makedirs(os.path.join(logdir, subdir), exist_ok=True)
  write_projector_tsv(os.path.join(logdir, subdir, "tensors.tsv"),
                      os.path.join(logdir, subdir, "metadata.tsv"), words, vectors)
  io_utils.atomic_write_text(
      os.path.join(logdir, "projector_config.pbtxt"),
      f'embeddings {{\n  tensor_name: "{tag}:00000"\n  tensor_path: "{subdir}/tensors.tsv"\n'
      f'  metadata_path: "{subdir}/metadata.tsv"\n}}\n')
  if not any(name.startswith("events.out.tfevents") for name in os.listdir(logdir)):
    logs.EventFile(logdir).close()  # An event file makes the directory a run TensorBoard lists.
