"""Raw text in, token streams out: files, directories, compression, standardization."""

from __future__ import annotations

import bz2
import gzip
import os
import re
import string
import unicodedata
import zlib
from collections.abc import Callable, Iterator, Sequence
from typing import IO

# word2vec.c cuts sentences at MAX_SENTENCE_LENGTH = 1000 tokens.
MAX_SENTENCE_LENGTH = 1000

_SEED_PUNCT = str.maketrans("", "", string.punctuation)
# Apostrophes are deleted (don't -> dont, as the seed does); any other character that is not a
# letter, digit or whitespace (Unicode punctuation, symbols, underscores) becomes a space.
_APOSTROPHES = re.compile(r"['\u2019\u02bc]")
_NON_WORD = re.compile(r"[^\w\s]|_")


class CorpusError(ValueError):
  """A problem with the user's corpus files; the message names the file (and line)."""


def standardize_seed(line: str) -> str:
  """The notebook's standardization: lowercase, delete ASCII punctuation."""
  return line.lower().translate(_SEED_PUNCT)


def standardize_unicode(line: str) -> str:
  """NFKC + casefold; apostrophes deleted, other punctuation and symbols become spaces."""
  line = unicodedata.normalize("NFKC", line).casefold()
  return _NON_WORD.sub(" ", _APOSTROPHES.sub("", line))


def standardize_none(line: str) -> str:
  """No change: for corpora that are already normalised (text8-style)."""
  return line


STANDARDIZERS: dict[str, Callable[[str], str]] = {
    "seed": standardize_seed,
    "unicode": standardize_unicode,
    "none": standardize_none,
}


def expand_paths(paths: Sequence[str]) -> list[str]:
  """Files named directly, plus every non-hidden file below each directory, sorted."""
  files = []
  for path in paths:
    if os.path.isdir(path):
      found = []
      for root, dirs, names in os.walk(path):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [os.path.join(root, n) for n in names if not n.startswith(".")]
      if not found:
        raise CorpusError(f"{path}: directory holds no files")
      files += sorted(found)
    elif os.path.isfile(path):
      files.append(path)
    else:
      raise CorpusError(f"{path}: no such file or directory")
  if not files:
    raise CorpusError("no corpus files given")
  return files


def open_binary(path: str) -> IO[bytes]:
  """Opens plain, .gz or .bz2 files as bytes."""
  if path.endswith(".gz"):
    return gzip.open(path, "rb")
  if path.endswith(".bz2"):
    return bz2.open(path, "rb")
  return open(path, "rb")


# Bytes read at a time: a line longer than this (text8 is one line of 100 MB) is read in pieces
# cut at whitespace, so memory stays bounded by the chunk, not by the line. A piece's tokens cost
# ~60 bytes each as Python strings, ten times its bytes: in 1 MB pieces (180k tokens, and the
# allocator's arenas they fragment) encoding the small corpus written as one line peaked at
# 132 MB against 86 MB as lines; in 64 kB pieces both peak at 85 MB, read as fast.
CHUNK_BYTES = 1 << 16
_WHITESPACE = (b" ", b"\t", b"\r", b"\f", b"\v")  # ASCII: a cut after one splits no character.


def _last_cut(raw: bytes) -> int:
  """Just after the last ASCII whitespace in `raw`; 0 where it has none."""
  return max(raw.rfind(space) for space in _WHITESPACE) + 1


def read_pieces(paths: Sequence[str], chunk_bytes: int = CHUNK_BYTES
                ) -> Iterator[tuple[str, bool]]:
  """Streams the text of all files as strict UTF-8 pieces: (text, whether a line ends there).

  A piece is a whole line, or a part of a long one cut after whitespace (so no word is split: a
  word longer than the chunk is read on until it ends); errors name the file and line.
  """
  for path in expand_paths(paths):
    lineno, column = 1, 0  # column: bytes of the line before this piece.

    def decoded(raw: bytes) -> str:
      # Per piece (not through a buffered text layer), which pins errors to their line; cuts
      # fall after ASCII whitespace, so never inside a UTF-8 character.
      try:
        return raw.decode("utf-8")
      except UnicodeDecodeError as e:
        raise CorpusError(
            f"{path}: line {lineno}: not valid UTF-8 (byte {e.object[e.start:e.start + 1]!r}"
            f" at column {column + e.start + 1})") from None

    try:
      with open_binary(path) as f:
        last = None  # Given out one piece late: the file's last piece ends its line, newline or not.
        word: list[bytes] = []  # Read, not given out: the line's last word so far.
        while True:
          read = f.readline(chunk_bytes)
          ends = read.endswith(b"\n")
          if not ends and len(read) == chunk_bytes:  # Part of a long line: keep its last word.
            cut = _last_cut(read)
            if not cut:  # No whitespace: read on rather than split a word.
              word.append(read)
              continue
            raw = b"".join([*word, read[:cut]]) if word else read[:cut]
            word = [read[cut:]] if cut < len(read) else []
          elif read or word:
            raw = b"".join([*word, read]) if word else read
            word = []
          else:
            break
          if last is not None:
            yield last
          last = decoded(raw), ends
          lineno, column = (lineno + 1, 0) if ends else (lineno, column + len(raw))
        if last is not None:
          yield last[0], True
    except (OSError, EOFError, zlib.error) as e:
      raise CorpusError(f"{path}: cannot read after line {lineno - 1}: {e}") from None


def read_lines(paths: Sequence[str]) -> Iterator[str]:
  """Streams the lines of all files as strict UTF-8 (a long line whole: prefer `read_pieces`)."""
  parts = []
  for piece, ends in read_pieces(paths):
    parts.append(piece)
    if ends:
      yield "".join(parts)
      parts = []


def iter_sentences(
    paths: Sequence[str],
    standardize: str = "unicode",
    max_length: int = MAX_SENTENCE_LENGTH,
    truncate: bool = False,
    chunk_bytes: int = CHUNK_BYTES,
) -> Iterator[list[str]]:
  """One token list per non-empty line; longer lines are split (or truncated) at `max_length`.

  A line is read in bounded pieces, so a corpus of one huge line (text8) needs no more memory
  than one of many short ones.
  """
  if standardize not in STANDARDIZERS:
    raise ValueError(f"unknown standardize {standardize!r}; choose from {sorted(STANDARDIZERS)}")
  fn = STANDARDIZERS[standardize]
  pending: list[str] = []  # The line's tokens not yet given out as a whole sentence.
  skip_rest = False  # Truncating: the line's first sentence is out, drop the rest of the line.
  for piece, ends in read_pieces(paths, chunk_bytes):
    if not skip_rest:
      tokens = pending + fn(piece).split()
      whole = len(tokens) - len(tokens) % max_length
      for start in range(0, whole, max_length):
        yield tokens[start:start + max_length]
        if truncate:
          skip_rest = True
          break
      pending = [] if skip_rest else tokens[whole:]
    if ends:
      if pending and not skip_rest:
        yield pending
      pending, skip_rest = [], False
