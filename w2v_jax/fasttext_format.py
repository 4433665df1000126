"""fastText's model `.bin` (fasttext.cc saveModel: settings, dictionary, input and output
matrices): made from a run's tables, written, and read (fastText and gensim's
`load_facebook_model` read what is written here)."""

from __future__ import annotations

import dataclasses
import os
import struct
from collections.abc import Callable

import numpy as np

from w2v_jax import config as config_lib
from w2v_jax import io_utils
from w2v_jax import subwords as subwords_lib
from w2v_jax import vocab as vocab_lib

MAGIC = 793712314
VERSION = 12
_ARGS = ("dim", "ws", "epoch", "min_count", "neg", "word_ngrams", "loss", "model", "bucket",
         "minn", "maxn", "lr_update_rate")
LOSS = {"hs": 1, "ns": 2, "softmax": 3}
MODEL = {"cbow": 1, "skipgram": 2}


@dataclasses.dataclass
class FastTextModel:
  """What a fastText `.bin` holds: settings, vocabulary, and the two matrices.

  `input` is [nwords + bucket, dim]: the words' own rows, then the n-gram buckets'.
  """

  args: dict[str, float]
  words: list[str]
  counts: np.ndarray
  ntokens: int
  input: np.ndarray
  output: np.ndarray


def settings(objective: config_lib.ObjectiveConfig, examples: config_lib.ExamplesConfig,
             corpus: config_lib.CorpusConfig, epochs: int,
             composer: subwords_lib.SubwordVectors) -> dict[str, float]:
  """The settings a fastText `.bin` records, from a run's sections and the n-grams' settings its
  vectors compose with (`composer`)."""
  return {"dim": objective.embedding_dim, "ws": examples.window_size, "epoch": epochs,
          "min_count": corpus.min_count, "neg": objective.num_ns, "word_ngrams": 1,
          "loss": LOSS["ns" if objective.num_ns else "hs"], "model": MODEL[objective.model],
          "bucket": composer.bucket, "minn": composer.minn, "maxn": composer.maxn,
          "lr_update_rate": 100, "t": examples.subsample}


def from_tables(table: Callable[[str], np.ndarray], vocab: vocab_lib.Vocab, raw_words: int,
                composer: subwords_lib.SubwordVectors, args: dict[str, float]) -> FastTextModel:
  """A run's fastText model: its tables (`table(name)`, as NumPy) under `args` (`settings`); the
  input side holds the words' own rows (the n-grams' stay in `composer`, see `write`)."""
  words = len(vocab)
  if args["neg"]:  # fastText's output side: NS's context rows, or HS's V - 1 inner nodes.
    output = table("output")[:words]
  else:
    output = np.zeros((words, int(args["dim"])), np.float32)
    output[:words - 1] = table("tree")[:words - 1]
  return FastTextModel(args, list(vocab.words), vocab.counts, raw_words, composer.word_rows,
                       output)


def write(path: str, model: FastTextModel, ngram_rows: np.ndarray | None = None) -> None:
  """Writes `model` in fastText's `.bin` layout. With `ngram_rows`, `model.input` holds only the
  words' rows and the bucket rows follow from `ngram_rows`, so the two are never copied into one
  array.
  """
  words_in = np.asarray(model.input, np.float32)
  buckets = np.zeros((0, words_in.shape[1]), np.float32) if ngram_rows is None else ngram_rows
  with io_utils.atomic_open(path, "wb") as f:
    f.write(struct.pack("<2i", MAGIC, VERSION))
    f.write(struct.pack("<12i", *(int(model.args[k]) for k in _ARGS)))
    f.write(struct.pack("<d", float(model.args["t"])))
    f.write(struct.pack("<3iqq", len(model.words), len(model.words), 0, model.ntokens, -1))
    for word, count in zip(model.words, np.asarray(model.counts).tolist()):
      f.write(word.encode("utf-8") + b"\0" + struct.pack("<qb", count, 0))
    f.write(struct.pack("<?2q", False, len(words_in) + len(buckets), words_in.shape[1]))
    for rows in (words_in, buckets):
      for start in range(0, len(rows), 1 << 16):  # In slices: no copy of a 2M-row table.
        f.write(np.ascontiguousarray(rows[start:start + (1 << 16)], "<f4").tobytes())
    output = np.asarray(model.output, "<f4")
    f.write(struct.pack("<?2q", False, *output.shape))
    f.write(np.ascontiguousarray(output).tobytes())


def is_fasttext_bin(path: str) -> bool:
  """Whether the file starts with fastText's magic number (a word2vec .bin starts with text)."""
  with open(path, "rb") as f:
    head = f.read(4)
  return len(head) == 4 and struct.unpack("<i", head)[0] == MAGIC


def read(path: str) -> FastTextModel:
  """A fastText `.bin` (unsupervised, not quantized); a bad file raises ValueError naming it."""
  if not os.path.isfile(path):
    raise ValueError(f"{path}: no such file")
  with open(path, "rb") as f:

    def unpack(fmt: str) -> tuple:
      size = struct.calcsize(fmt)
      raw = f.read(size)
      if len(raw) != size:
        raise ValueError(f"{path}: truncated (ends at byte {f.tell()})")
      return struct.unpack(fmt, raw)

    magic, version = unpack("<2i")
    if magic != MAGIC:
      raise ValueError(f"{path}: not a fastText .bin file (magic {magic}, expected {MAGIC})")
    if version > VERSION:
      raise ValueError(f"{path}: fastText format version {version} is newer than this reader's")
    args = dict(zip(_ARGS, unpack("<12i")))
    args["t"] = unpack("<d")[0]
    size, nwords, nlabels, ntokens, pruned = unpack("<3iqq")
    if nlabels:
      raise ValueError(f"{path}: a supervised fastText model (labels); only word vectors are read")
    words, counts = [], []
    for _ in range(size):
      word = bytearray()
      while (byte := f.read(1)) != b"\0":
        if not byte:
          raise ValueError(f"{path}: truncated (ends at byte {f.tell()})")
        word += byte
      words.append(word.decode("utf-8", errors="replace"))
      counts.append(unpack("<qb")[0])
    if pruned > 0:
      unpack(f"<{2 * pruned}i")

    def matrix() -> np.ndarray:
      quantized, rows, cols = unpack("<?2q")
      if quantized:
        raise ValueError(f"{path}: quantized (.ftz) models are not supported")
      data = np.fromfile(f, "<f4", rows * cols)
      if len(data) != rows * cols:
        raise ValueError(f"{path}: truncated (a {rows} x {cols} matrix is cut short)")
      return data.reshape(rows, cols)

    input_matrix = matrix()
    output_matrix = matrix()
  return FastTextModel(args, words[:nwords], np.asarray(counts[:nwords], np.int64), ntokens,
                       input_matrix, output_matrix)
