"""What a run writes: its word vectors from its tables, in the formats other tools read.

word2vec.c's text and binary files (`word2vec_format`), fastText's model.bin with subwords
(`fasttext_format`), and the projector's TSVs: the seed's `vectors.tsv` + `metadata.tsv`, and
TensorBoard's projector.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from w2v_jax import fasttext_format, io_utils, logs
from w2v_jax import subwords as subwords_lib
from w2v_jax import word2vec_format


def word_vectors(table: Callable[[str], np.ndarray], words: Sequence[str], ngrams: Any = None
                 ) -> tuple[np.ndarray, subwords_lib.SubwordVectors | None]:
  """A run's word vectors from its tables (`table(name)`, as NumPy): the "input" table's
  vocabulary rows or, with `ngrams` (objectives.NgramRows), each word's row averaged with its
  n-gram rows (fastText's); and then what composes any word's vector (None without)."""
  rows = table("input")[:len(words)]
  if ngrams is None:
    return rows, None
  composer = subwords_lib.SubwordVectors(tuple(words), rows, table("ngrams"), ngrams.minn,
                                         ngrams.maxn)
  return composer.vocabulary_vectors(), composer


def write_projector_tsv(vectors_path: str, metadata_path: str, words: Sequence[str],
                        vectors: np.ndarray) -> None:
  """The seed's `vectors.tsv` + `metadata.tsv`: one row per word, the padding row ('') skipped."""
  start = 1 if len(words) and words[0] == "" else 0
  with io_utils.atomic_open(vectors_path, "w", encoding="utf-8") as f:
    f.writelines(line + "\n" for line in word2vec_format.format_rows(vectors[start:], "\t"))
  io_utils.atomic_write_text(metadata_path, "".join(w + "\n" for w in words[start:]))


def write_text_vectors(tsv_path: str, metadata_path: str, txt_path: str, words: Sequence[str],
                       vectors: np.ndarray) -> None:
  """`write_projector_tsv` and word2vec text (`word2vec_format.write`) from one formatting pass.

  Formatting the numbers is what these files cost (2.4 s per pass at 51k x 100); each line is
  formatted once and written to both.
  """
  kept = [w for w in words if w != ""]
  word2vec_format.check_words(kept)
  start = 1 if len(words) and words[0] == "" else 0
  with io_utils.atomic_open(tsv_path, "w", encoding="utf-8") as tsv, \
      io_utils.atomic_open(txt_path, "wb") as txt:
    txt.write(f"{len(kept)} {vectors.shape[1]}\n".encode())
    for word, line in zip(words[start:], word2vec_format.format_rows(vectors[start:], "\t")):
      tsv.write(line + "\n")
      if word:
        txt.write(f"{word} {line.replace(chr(9), ' ')}\n".encode("utf-8"))
  io_utils.atomic_write_text(metadata_path, "".join(w + "\n" for w in words[start:]))


def write_tensorboard_projector(logdir: str, words: Sequence[str], vectors: np.ndarray,
                                tag: str = "word2vec", copy_of: tuple[str, str] | None = None
                                ) -> None:
  """A TensorBoard projector embedding of the run in `logdir`, its files under `projector/`.

  `copy_of`: (vectors.tsv, metadata.tsv) already written for these vectors, copied rather than
  formatted again.

  The config sits in the run's own directory, so TensorBoard lists the run once (not a second
  `RUN/projector` run). Written here rather than by tensorboardX's `add_embedding`, which
  formats one number per `str()` call (3.6 s for 51k x 100), writes in place, and appends to an
  existing `projector_config.pbtxt`, so a second export listed the embedding twice.
  """
  subdir = f"projector/00000/{tag}"
  os.makedirs(os.path.join(logdir, subdir), exist_ok=True)
  targets = (os.path.join(logdir, subdir, "tensors.tsv"),
             os.path.join(logdir, subdir, "metadata.tsv"))
  if copy_of is None:
    write_projector_tsv(*targets, words, vectors)
  else:
    for source, target in zip(copy_of, targets):
      with open(source, "rb") as src, io_utils.atomic_open(target, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 22)
  io_utils.atomic_write_text(
      os.path.join(logdir, "projector_config.pbtxt"),
      f'embeddings {{\n  tensor_name: "{tag}:00000"\n  tensor_path: "{subdir}/tensors.tsv"\n'
      f'  metadata_path: "{subdir}/metadata.tsv"\n}}\n')
  if not any(name.startswith("events.out.tfevents") for name in os.listdir(logdir)):
    logs.EventFile(logdir).close()  # An event file makes the directory a run TensorBoard lists.


def write_vector_files(directory: str, words: Sequence[str], vectors: np.ndarray) -> None:
  """A run's vectors in every format it gives: vectors.tsv and metadata.tsv (the seed's,
  TensorBoard's projector), vectors.txt and vectors.bin (word2vec.c's), and the projector."""
  tsv = (os.path.join(directory, "vectors.tsv"), os.path.join(directory, "metadata.tsv"))
  write_text_vectors(*tsv, os.path.join(directory, "vectors.txt"), words, vectors)
  word2vec_format.write(os.path.join(directory, "vectors.bin"), words, vectors, binary=True)
  write_tensorboard_projector(directory, words, vectors, copy_of=tsv)


def write_run_files(directory: str, words: Sequence[str], vectors: np.ndarray,
                    model: fasttext_format.FastTextModel | None = None,
                    composer: subwords_lib.SubwordVectors | None = None) -> None:
  """A run's vector files (`write_vector_files`) and, with subwords, fastText's model.bin
  (`model`, its n-gram rows from `composer`)."""
  if model is not None:
    fasttext_format.write(os.path.join(directory, "model.bin"), model, composer.ngram_rows)
  write_vector_files(directory, words, vectors)
