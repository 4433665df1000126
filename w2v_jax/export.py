"""Vector files other tools read: projector TSVs, word2vec text/binary, TensorBoard projector."""

from __future__ import annotations

import dataclasses
import os
import shutil
import struct
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from w2v_jax import io_utils, logs
from w2v_jax import subwords as subwords_lib


def write_projector_tsv(
    vectors_path: str, metadata_path: str, words: Sequence[str], vectors: np.ndarray,
    skip_padding: bool = True,
) -> None:
  """The seed's `vectors.tsv` + `metadata.tsv`: one row per word, the padding row ('') skipped."""
  start = 1 if skip_padding and len(words) and words[0] == "" else 0
  with io_utils.atomic_open(vectors_path, "w", encoding="utf-8") as f:
    f.writelines(line + "\n" for line in format_rows(vectors[start:], "\t"))
  io_utils.atomic_write_text(metadata_path, "".join(w + "\n" for w in words[start:]))


def write_text_vectors(tsv_path: str, metadata_path: str, txt_path: str, words: Sequence[str],
                       vectors: np.ndarray) -> None:
  """`write_projector_tsv` and word2vec text (`write_word2vec`) from one formatting pass.

  Formatting the numbers is what these files cost (2.4 s per pass at 51k x 100); each line is
  formatted once and written to both.
  """
  kept = [w for w in words if w != ""]
  _checked_words(kept)
  start = 1 if len(words) and words[0] == "" else 0
  with io_utils.atomic_open(tsv_path, "w", encoding="utf-8") as tsv, \
      io_utils.atomic_open(txt_path, "wb") as txt:
    txt.write(f"{len(kept)} {vectors.shape[1]}\n".encode())
    for word, line in zip(words[start:], format_rows(vectors[start:], "\t")):
      tsv.write(line + "\n")
      if word:
        txt.write(f"{word} {line.replace(chr(9), ' ')}\n".encode("utf-8"))
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
  write_word2vec(os.path.join(directory, "vectors.bin"), words, vectors, binary=True)
  write_tensorboard_projector(directory, words, vectors, copy_of=tsv)


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


def fasttext_model(config: Any, table: Callable[[str], np.ndarray], vocab: Any,
                   composer: subwords_lib.SubwordVectors, raw_words: int) -> "FastTextModel":
  """What a run with subwords writes as fastText's model.bin (`config`: its resolved Config;
  the n-grams' settings those `composer` composes with)."""
  o = config.objective
  words = len(vocab)
  if o.num_ns:  # fastText's output side: NS's context rows, or HS's V - 1 inner nodes.
    output = table("output")[:words]
  else:
    output = np.zeros((words, o.embedding_dim), np.float32)
    output[:words - 1] = table("tree")[:words - 1]
  args = fasttext_args(
      dim=o.embedding_dim, window=config.examples.window_size, epochs=config.run.epochs,
      min_count=config.corpus.min_count, num_ns=o.num_ns, model=o.model, bucket=composer.bucket,
      minn=composer.minn, maxn=composer.maxn, subsample=config.examples.subsample)
  return FastTextModel(args, list(vocab.words), vocab.counts, raw_words, composer.word_rows,
                       output)


def write_run_files(directory: str, words: Sequence[str], vectors: np.ndarray,
                    model: "FastTextModel | None" = None, composer: Any = None) -> None:
  """A run's vector files (`write_vector_files`) and, with subwords, fastText's model.bin
  (`model`, its n-gram rows from `composer`, a subwords.SubwordVectors)."""
  if model is not None:
    write_fasttext_bin(os.path.join(directory, "model.bin"), model, composer.ngram_rows)
  write_vector_files(directory, words, vectors)


# fastText's `.bin` (fasttext.cc saveModel: args, dictionary, input and output matrices).
FASTTEXT_MAGIC = 793712314
FASTTEXT_VERSION = 12
_FASTTEXT_ARGS = ("dim", "ws", "epoch", "min_count", "neg", "word_ngrams", "loss", "model",
                  "bucket", "minn", "maxn", "lr_update_rate")
FASTTEXT_LOSS = {"hs": 1, "ns": 2, "softmax": 3}
FASTTEXT_MODEL = {"cbow": 1, "skipgram": 2}


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


def fasttext_args(*, dim: int, window: int, epochs: int, min_count: int, num_ns: int,
                  model: str, bucket: int, minn: int, maxn: int, subsample: float
                  ) -> dict[str, float]:
  """The settings a fastText `.bin` records, from a run's."""
  return {"dim": dim, "ws": window, "epoch": epochs, "min_count": min_count, "neg": num_ns,
          "word_ngrams": 1, "loss": FASTTEXT_LOSS["ns" if num_ns else "hs"],
          "model": FASTTEXT_MODEL[model], "bucket": bucket, "minn": minn, "maxn": maxn,
          "lr_update_rate": 100, "t": subsample}


def write_fasttext_bin(path: str, model: FastTextModel, ngram_rows: np.ndarray | None = None
                       ) -> None:
  """Writes `model` in fastText's `.bin` layout, which fastText and gensim's
  `load_facebook_model` read. With `ngram_rows`, `model.input` holds only the words' rows and the
  bucket rows follow from `ngram_rows`, so the two are never copied into one array.
  """
  words_in = np.asarray(model.input, np.float32)
  buckets = np.zeros((0, words_in.shape[1]), np.float32) if ngram_rows is None else ngram_rows
  with io_utils.atomic_open(path, "wb") as f:
    f.write(struct.pack("<2i", FASTTEXT_MAGIC, FASTTEXT_VERSION))
    f.write(struct.pack("<12i", *(int(model.args[k]) for k in _FASTTEXT_ARGS)))
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
  return len(head) == 4 and struct.unpack("<i", head)[0] == FASTTEXT_MAGIC


def read_fasttext_bin(path: str) -> FastTextModel:
  """Reads a fastText `.bin` (unsupervised, not quantized); a bad file raises ValueError naming it."""
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
    if magic != FASTTEXT_MAGIC:
      raise ValueError(f"{path}: not a fastText .bin file (magic {magic}, expected "
                       f"{FASTTEXT_MAGIC})")
    if version > FASTTEXT_VERSION:
      raise ValueError(f"{path}: fastText format version {version} is newer than this reader's")
    args = dict(zip(_FASTTEXT_ARGS, unpack("<12i")))
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
