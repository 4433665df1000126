"""The encoded corpus: an id array plus sentence offsets, built once and cached as .npy."""

from __future__ import annotations

import array
import dataclasses
import hashlib
import json
import os
from collections.abc import Iterable

import numpy as np

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

  def sentence_ids(self) -> np.ndarray:
    """The sentence index of every token, int32 [N]."""
    return np.repeat(np.arange(self.num_sentences, dtype=np.int32), np.diff(self.offsets))


def encode(
    sentences: Iterable[list[str]],
    vocab: vocab_lib.Vocab,
    sequence_length: int | None = None,
) -> Corpus:
  """Maps tokens to ids, streaming.

  Without reserved tokens, out-of-vocabulary words are dropped (word2vec.c and gensim do so before
  windowing). With them, they become [UNK]; `sequence_length` then pads or truncates every sentence
  to exactly that many ids, as Keras' `output_sequence_length` does.
  """
  index = vocab.index
  unk = vocab.unk_id
  pad = [vocab.pad_id] * (sequence_length or 0)
  # array.array holds 4 (8) bytes per id (length), a list ~36: this keeps big corpora small.
  ids_buf, lengths, raw = array.array("i"), array.array("q", [0]), 0
  for tokens in sentences:
    raw += len(tokens)
    if unk is None:
      ids = [i for i in map(index.get, tokens) if i is not None]
    else:
      ids = [index.get(t, unk) for t in tokens]
    if sequence_length is not None:
      ids = (ids + pad)[:sequence_length]
    if ids:
      ids_buf.extend(ids)
      lengths.append(len(ids))
  offsets = np.cumsum(np.frombuffer(lengths, np.int64))
  return Corpus(compact_ids(np.frombuffer(ids_buf, np.int32), len(vocab)), offsets, raw)


def compact_ids(ids: np.ndarray, vocab_size: int) -> np.ndarray:
  """uint16 ids when the vocabulary has at most 65,536 words: half the corpus's memory.

  The corpus is the biggest array the trainer holds besides the tables; pieces are widened back
  to int32 as they are cut (`data.ExampleSource`), so nothing downstream sees the narrow type.
  """
  return ids.astype(np.uint16) if vocab_size <= 1 << 16 else ids


@dataclasses.dataclass(frozen=True)
class CorpusSpec:
  """Everything that decides the vocabulary and the encoded ids (the cache key)."""

  paths: tuple[str, ...]
  standardize: str = "unicode"
  min_count: int = 5
  max_vocab: int | None = None
  reserved: bool = False
  tie_break: str = "ascending"
  max_sentence_length: int = text.MAX_SENTENCE_LENGTH
  sequence_length: int | None = None

  def cache_key(self) -> str:
    files = text.expand_paths(self.paths)
    stats = [(os.path.abspath(f), os.path.getsize(f), os.path.getmtime(f)) for f in files]
    blob = json.dumps([dataclasses.asdict(self), stats], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def build(spec: CorpusSpec) -> tuple[vocab_lib.Vocab, Corpus]:
  """Two streaming passes over the text: count words, then encode."""
  truncate = spec.sequence_length is not None
  max_len = spec.sequence_length or spec.max_sentence_length

  def sentences(for_encoding: bool):
    return text.iter_sentences(
        spec.paths,
        spec.standardize,
        max_length=max_len if for_encoding else spec.max_sentence_length,
        truncate=truncate and for_encoding,
    )

  counts = vocab_lib.count_words(sentences(False))
  if not counts:
    raise text.CorpusError(f"{', '.join(spec.paths)}: corpus holds no words")
  vocab = vocab_lib.build_vocab(
      counts, spec.min_count, spec.max_vocab, spec.reserved, spec.tie_break
  )
  return vocab, encode(sentences(True), vocab, spec.sequence_length)


def load_or_build(spec: CorpusSpec, cache_dir: str | None) -> tuple[vocab_lib.Vocab, Corpus]:
  """`build`, reusing `cache_dir/corpus-<key>.*` when the files and settings are unchanged."""
  if cache_dir is None:
    return build(spec)
  stem = os.path.join(cache_dir, f"corpus-{spec.cache_key()}")
  paths = {k: f"{stem}.{k}" for k in ("vocab.tsv", "ids.npy", "offsets.npy", "json")}
  if all(os.path.exists(p) for p in paths.values()):
    with open(paths["json"]) as f:
      meta = json.load(f)
    corpus = Corpus(np.load(paths["ids.npy"]), np.load(paths["offsets.npy"]), meta["raw_words"])
    return vocab_lib.load_vocab(paths["vocab.tsv"]), corpus
  vocab, corpus = build(spec)
  vocab_lib.save_vocab(vocab, paths["vocab.tsv"])
  io_utils.atomic_save_npy(paths["ids.npy"], corpus.ids)
  io_utils.atomic_save_npy(paths["offsets.npy"], corpus.offsets)
  # Written last: its presence marks a complete cache entry.
  io_utils.atomic_write_json(paths["json"],
                             {"raw_words": corpus.raw_words, **dataclasses.asdict(spec)})
  return vocab, corpus
