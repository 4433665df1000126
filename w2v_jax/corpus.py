"""The encoded corpus: an id array plus sentence offsets, built once and cached as .npy."""

from __future__ import annotations

import array
import collections
import dataclasses
import hashlib
import itertools
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator

import numpy as np

from w2v_jax import config as config_lib
from w2v_jax import io_utils, text
from w2v_jax import vocab as vocab_lib



@dataclasses.dataclass(frozen=True, eq=False)
class Corpus:
  """Sentence s is ids[offsets[s]:offsets[s + 1]]; `raw_words` counts tokens before OOV removal."""

  ids: np.ndarray  # [N], uint16 when every id fits (see `compact_ids`), else int32
  offsets: np.ndarray  # int64 [S + 1]
  raw_words: int

  @property
  def num_sentences(self) -> int:
    return len(self.offsets) - 1


def _encoded(sentences: Iterable[list[str]], vocab: vocab_lib.Vocab,
             sequence_length: int | None) -> Iterator[tuple[list[int], int]]:
  """(ids, raw token count) per sentence; sentences left empty give no ids."""
  index = vocab.index
  unk = vocab.unk_id
  pad = [vocab.pad_id] * (sequence_length or 0)
  for tokens in sentences:
    if unk is None:
      ids = [i for i in map(index.get, tokens) if i is not None]
    else:
      ids = [index.get(t, unk) for t in tokens]
    if sequence_length is not None:
      ids = (ids + pad)[:sequence_length]
    yield ids, len(tokens)


def encode(
    sentences: Iterable[list[str]],
    vocab: vocab_lib.Vocab,
    sequence_length: int | None = None,
) -> Corpus:
  """Maps tokens to ids, in memory (`encode_to_files` streams them to disk instead).

  Without reserved tokens, out-of-vocabulary words are dropped (word2vec.c and gensim do so before
  windowing). With them, they become [UNK]; `sequence_length` then pads or truncates every sentence
  to exactly that many ids, as Keras' `output_sequence_length` does.
  """
  # array.array holds 4 (8) bytes per id (length), a list ~36: this keeps big corpora small.
  ids_buf, lengths, raw = array.array("i"), array.array("q", [0]), 0
  for ids, words in _encoded(sentences, vocab, sequence_length):
    raw += words
    if ids:
      ids_buf.extend(ids)
      lengths.append(len(ids))
  offsets = np.cumsum(np.frombuffer(lengths, np.int64))
  return Corpus(compact_ids(np.frombuffer(ids_buf, np.int32), len(vocab)), offsets, raw)


def encode_to_files(
    sentences: Iterable[list[str]],
    vocab: vocab_lib.Vocab,
    ids_path: str,
    offsets_path: str,
    sequence_length: int | None = None,
    chunk: int = 1 << 20,
) -> int:
  """`encode`, streamed into two .npy files (ids, offsets) in chunks; returns the raw word count.

  Memory stays at a chunk of ids, whatever the corpus's size; each file appears complete or not
  at all.
  """
  try:
    return _encode_to_files(sentences, vocab, ids_path, offsets_path, sequence_length, chunk)
  except OSError as e:  # The unnamed temp files' errors name no file: name the cache's.
    raise io_utils.named_os_error(e, ids_path) from e


def _encode_to_files(sentences, vocab, ids_path, offsets_path, sequence_length, chunk) -> int:
  raw = 0

  def chunks():
    nonlocal raw
    ids_buf, lengths = array.array("i"), array.array("q")
    for ids, words in _encoded(sentences, vocab, sequence_length):
      raw += words
      if ids:
        ids_buf.extend(ids)
        lengths.append(len(ids))
        if len(ids_buf) >= chunk:
          yield np.frombuffer(ids_buf, np.int32), np.frombuffer(lengths, np.int64)
          ids_buf, lengths = array.array("i"), array.array("q")
    yield np.frombuffer(ids_buf, np.int32), np.frombuffer(lengths, np.int64)

  _write_npy_pair(chunks(), len(vocab), ids_path, offsets_path)
  return raw


def _write_npy_pair(chunks: Iterable[tuple[np.ndarray, np.ndarray]], vocab_size: int,
                    ids_path: str, offsets_path: str) -> None:
  """Streams (ids, sentence lengths) chunks into the ids and offsets .npy files."""
  dtype = compact_ids(np.zeros(0, np.int32), vocab_size).dtype
  total, sentences = 0, 0
  directory = os.path.dirname(os.path.abspath(ids_path))
  os.makedirs(directory, exist_ok=True)
  # Unnamed temp files beside the outputs (the same disk): nothing is left if the process dies.
  with tempfile.TemporaryFile(dir=directory) as ids_raw, \
      tempfile.TemporaryFile(dir=directory) as lengths_raw:
    for ids, lengths in chunks:
      ids_raw.write(ids.astype(dtype).tobytes())
      lengths_raw.write(lengths.astype(np.int64).tobytes())
      total, sentences = total + len(ids), sentences + len(lengths)
    ids_raw.seek(0)
    with io_utils.atomic_open(ids_path, "wb") as f:
      np.lib.format.write_array_header_1_0(f, {"descr": np.lib.format.dtype_to_descr(
          np.dtype(dtype)), "fortran_order": False, "shape": (total,)})
      shutil.copyfileobj(ids_raw, f, 1 << 22)
    lengths_raw.seek(0)
    with io_utils.atomic_open(offsets_path, "wb") as f:
      np.lib.format.write_array_header_1_0(f, {"descr": "<i8", "fortran_order": False,
                                               "shape": (sentences + 1,)})
      f.write(np.zeros(1, np.int64).tobytes())
      end = 0
      while block := lengths_raw.read(8 << 20):
        offsets = np.cumsum(np.frombuffer(block, np.int64)) + end
        f.write(offsets.tobytes())
        end = int(offsets[-1])


def build_to_files(spec: CorpusSpec, ids_path: str, offsets_path: str, chunk: int = 1 << 20
                   ) -> tuple[vocab_lib.Vocab, int]:
  """`build` in one pass over the text, streamed into the ids and offsets .npy files; returns
  the vocabulary and the raw word count. Needs `spec.sequence_length` None (sentences are then
  counted exactly as they are encoded).

  Reading and splitting the text is most of what building costs, so the text is read once:
  each token gets a provisional id (its word's first appearance), spilled to disk with its
  sentence's length; once the counts give the vocabulary, the spilled ids become vocabulary ids
  (out-of-vocabulary ones dropped, or [UNK]) in chunks of whole sentences. On the bench corpus
  8.3 s against 12.5 s for two passes (both timed beside another run). Memory: a chunk of ids
  and one entry per distinct word.
  """
  if spec.sequence_length is not None:
    raise ValueError("build_to_files: sentences cut to a sequence length need two passes")
  directory = os.path.dirname(os.path.abspath(ids_path))
  os.makedirs(directory, exist_ok=True)
  try:
    return _build_to_files(spec, ids_path, offsets_path, directory, chunk)
  except OSError as e:  # The unnamed temp files' errors name no file: name the cache's.
    raise io_utils.named_os_error(e, ids_path) from e


def _build_to_files(spec, ids_path, offsets_path, directory, chunk):
  provisional: dict[str, int] = collections.defaultdict(itertools.count().__next__)
  lookup = provisional.__getitem__  # A new word takes the next id.
  counts = np.zeros(0, np.int64)
  spills = []  # (sentences, tokens) of each chunk spilled: read back as they were written.
  with tempfile.TemporaryFile(dir=directory) as ids_raw, \
      tempfile.TemporaryFile(dir=directory) as lengths_raw:
    ids_buf, lengths = array.array("i"), array.array("q")

    def spill():
      nonlocal ids_buf, lengths, counts
      ids = np.frombuffer(ids_buf, np.int32)
      seen = np.bincount(ids, minlength=len(provisional))
      seen[:len(counts)] += counts
      counts = seen
      ids_raw.write(ids.tobytes())
      lengths_raw.write(lengths.tobytes())
      spills.append((len(lengths), len(ids)))
      ids_buf, lengths = array.array("i"), array.array("q")

    for tokens in _sentences(spec, True):
      ids_buf.extend(map(lookup, tokens))
      lengths.append(len(tokens))
      if len(ids_buf) >= chunk:
        spill()
    spill()
    if not provisional:
      raise text.CorpusError(f"{', '.join(spec.corpus)}: corpus holds no words")
    words = list(provisional)
    vocab = vocab_lib.build_vocab(dict(zip(words, counts.tolist())), spec.min_count,
                                  spec.max_vocab, spec.reserved_tokens, spec.tie_break)
    index, fallback = vocab.index, -1 if vocab.unk_id is None else vocab.unk_id
    to_vocab = np.fromiter((index.get(w, fallback) for w in words), np.int32, len(words))
    ids_raw.seek(0)
    lengths_raw.seek(0)

    def remapped():
      for sentences, tokens in spills:
        sentence_lengths = np.frombuffer(lengths_raw.read(8 * sentences), np.int64)
        ids = to_vocab[np.frombuffer(ids_raw.read(4 * tokens), np.int32)]
        sentence = np.repeat(np.arange(len(sentence_lengths)), sentence_lengths)
        kept = ids >= 0
        per_sentence = np.bincount(sentence[kept], minlength=len(sentence_lengths))
        yield ids[kept], per_sentence[per_sentence > 0]  # Sentences left empty are dropped.

    _write_npy_pair(remapped(), len(vocab), ids_path, offsets_path)
  return vocab, int(counts.sum())


def compact_ids(ids: np.ndarray, vocab_size: int) -> np.ndarray:
  """uint16 ids when the vocabulary has at most 65,536 words: half the corpus's memory.

  The corpus is the biggest array the trainer holds besides the tables; pieces are widened back
  to int32 as they are cut (`data.ExampleSource`), so nothing downstream sees the narrow type.
  """
  return ids.astype(np.uint16) if vocab_size <= 1 << 16 else ids


CorpusSpec = config_lib.CorpusConfig  # Everything that decides the vocabulary and the ids.


def cache_key(spec: CorpusSpec) -> str:
  """What names a cached encoding: the settings, the sentence cut, and each file's size and
  modification time."""
  files = text.expand_paths(spec.corpus)
  stats = [(os.path.abspath(f), os.path.getsize(f), os.path.getmtime(f)) for f in files]
  settings = {**dataclasses.asdict(spec), "max_sentence_length": text.MAX_SENTENCE_LENGTH}
  blob = json.dumps([settings, stats], sort_keys=True, default=str)
  return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _sentences(spec: CorpusSpec, for_encoding: bool) -> Iterator[list[str]]:
  """Sentences for counting (cut at word2vec.c's length) or encoding (the seed's truncation)."""
  truncate = spec.sequence_length is not None and for_encoding
  longest = text.MAX_SENTENCE_LENGTH
  return text.iter_sentences(
      spec.corpus, spec.standardize,
      max_length=(spec.sequence_length or longest) if for_encoding else longest,
      truncate=truncate)


def build_vocab(spec: CorpusSpec) -> vocab_lib.Vocab:
  """The first streaming pass: count words, prune and order them."""
  counts = vocab_lib.count_words(_sentences(spec, False))
  if not counts:
    raise text.CorpusError(f"{', '.join(spec.corpus)}: corpus holds no words")
  return vocab_lib.build_vocab(
      counts, spec.min_count, spec.max_vocab, spec.reserved_tokens, spec.tie_break
  )


def build(spec: CorpusSpec) -> tuple[vocab_lib.Vocab, Corpus]:
  """Two streaming passes over the text, in memory: count words, then encode."""
  vocab = build_vocab(spec)
  return vocab, encode(_sentences(spec, True), vocab, spec.sequence_length)


def load_or_build(spec: CorpusSpec, cache_dir: str | None) -> tuple[vocab_lib.Vocab, Corpus]:
  """`build`, through `cache_dir/corpus-<key>.*`, reused when the files and settings are unchanged.

  With a cache the ids are streamed to disk and memory-mapped from there, so the process holds
  pages of the corpus, not the corpus: a corpus larger than memory trains. Without one (library
  use) the corpus is built in memory.
  """
  if cache_dir is None:
    return build(spec)
  stem = os.path.join(cache_dir, f"corpus-{cache_key(spec)}")
  paths = {k: f"{stem}.{k}" for k in ("vocab.tsv", "ids.npy", "offsets.npy", "json")}
  if not all(os.path.exists(p) for p in paths.values()):
    if spec.sequence_length is None:
      vocab, raw_words = build_to_files(spec, paths["ids.npy"], paths["offsets.npy"])
    else:  # The seed's truncated sentences: count all words, encode the kept ones.
      vocab = build_vocab(spec)
      raw_words = encode_to_files(_sentences(spec, True), vocab, paths["ids.npy"],
                                  paths["offsets.npy"], spec.sequence_length)
    vocab_lib.save_vocab(vocab, paths["vocab.tsv"])
    # Written last: its presence marks a complete cache entry.
    io_utils.atomic_write_json(paths["json"],
                               {"raw_words": raw_words, **dataclasses.asdict(spec)})
  with open(paths["json"]) as f:
    meta = json.load(f)
  corpus = Corpus(np.load(paths["ids.npy"], mmap_mode="r"),
                  np.load(paths["offsets.npy"], mmap_mode="r"), meta["raw_words"])
  return vocab_lib.load_vocab(paths["vocab.tsv"]), corpus
