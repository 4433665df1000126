r"""Peak memory against corpus size and layout, w2v_jax beside gensim, one epoch each.

  python benchmarks/memory.py --corpus ../shared/data/bench-corpus.txt.gz \
      --json benchmarks/results/memory.json

From one corpus it makes three plain-text files: the corpus as lines, the same words on one line
(text8's layout: no newline at all) and the lines four times over. Each system trains one epoch
on each (word2vec settings: skip-gram, window 5, 5 negatives, dim 100, min_count 5) in a fresh
process, watched from outside: peak RSS (the kernel's high-water mark) and the peaks of its
anonymous and file-backed parts, sampled every 20 ms. w2v_jax's encoded corpus is a
memory-mapped file: its pages count as file-backed, which the kernel can drop and read again,
while anonymous memory is what the process must keep.

The bars (issue 13): text8's layout within 10% of the lines; 4x the corpus within 10% of 1x
apart from the larger vocabulary's tables, which a fourth run separates: one copy of the corpus
trained with the 4x run's exact vocabulary.
"""

from __future__ import annotations

import argparse
import gzip
import os
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import jobs as jobs_lib  # pylint: disable=wrong-import-position
from benchmarks import systems, tables  # pylint: disable=wrong-import-position
from w2v_jax import io_utils  # pylint: disable=wrong-import-position

LAYOUTS = ("lines", "one_line", "lines_x4")
# (name, layout, Settings overrides). The last is the control for the 4x run: a word has count
# >= 5 in the corpus four times over exactly when it has count >= 2 in one copy, so one copy at
# --min_count 2 has the 4x run's vocabulary, and the two differ in the corpus's size alone.
RUNS = (("lines", "lines", {}), ("one_line", "one_line", {}), ("lines_x4", "lines_x4", {}),
        ("lines_vocab_of_x4", "lines", {"min_count": 2}))


def make_layouts(corpus: str, directory: str) -> dict[str, str]:
  """Plain-text files of `corpus`: as lines, as one line (text8), as lines four times over."""
  paths = {name: os.path.join(directory, f"{name}.txt") for name in LAYOUTS}
  opener = gzip.open if corpus.endswith(".gz") else open
  with opener(corpus, "rb") as src, open(paths["lines"], "wb") as lines, \
      open(paths["one_line"], "wb") as one:
    first = True
    for line in src:
      words = line.split()
      if words:
        lines.write(b" ".join(words) + b"\n")
        one.write((b"" if first else b" ") + b" ".join(words))
        first = False
  with open(paths["lines_x4"], "wb") as out:
    for _ in range(4):
      with open(paths["lines"], "rb") as src:
        while block := src.read(1 << 22):
          out.write(block)
  return paths


def _status_kb(pid: int) -> dict[str, int]:
  """VmRSS, RssAnon, RssFile and RssShmem of a live process, in kB (empty once it is gone)."""
  values = {}
  try:
    with open(f"/proc/{pid}/status", encoding="utf-8") as f:
      for line in f:
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem", "VmHWM"):
          values[key] = int(rest.split()[0])
  except OSError:
    pass
  return values


def run_watched(system: str, flags: dict) -> dict:
  """`systems.run_worker`, with the worker's memory sampled from outside while it runs."""
  argv, env = systems.worker_command(system, flags)
  proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
  peaks: dict[str, int] = {}
  done = threading.Event()

  def sample():
    while not done.is_set():
      for key, value in _status_kb(proc.pid).items():
        peaks[key] = max(peaks.get(key, 0), value)
      time.sleep(0.02)

  watcher = threading.Thread(target=sample, daemon=True)
  watcher.start()
  out, err = proc.communicate()
  done.set()
  watcher.join()
  report = systems.worker_report(system, proc.returncode, out, err)
  report.update({f"sampled_peak_{k.lower()}_mb": v / 1024 for k, v in peaks.items()})
  return report


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
  parser.add_argument("--corpus", required=True, help="a text corpus (.gz ok)")
  parser.add_argument("--json", default=None, help="where to write the results")
  parser.add_argument("--no_gensim", action="store_true", help="w2v_jax only")
  args = parser.parse_args()
  if not os.path.isfile(args.corpus):
    print(f"error: --corpus={args.corpus}: no such file", file=sys.stderr)
    return 2
  names = ["w2v_jax"] + ([] if args.no_gensim else ["gensim"])
  results: dict[str, dict[str, dict]] = {}
  with tempfile.TemporaryDirectory(prefix="w2v_memory_") as directory:
    print("making the layouts ...", file=sys.stderr, flush=True)
    paths = make_layouts(args.corpus, directory)
    for name, layout, overrides in RUNS:
      for system in names if name != "lines_vocab_of_x4" else ["w2v_jax"]:
        print(f"training {system} on {name} ...", file=sys.stderr, flush=True)
        flags = {**systems.SHARED, "corpus": [paths[layout]], "epochs": 1, "seed": 1,
                 **overrides}
        results.setdefault(name, {})[system] = run_watched(system, flags)

  def row(name: str, system: str) -> list[str]:
    r = results[name][system]
    return [name, system, f"{r['raw_words']:,}", f"{r['vocab_size']:,}",
            f"{r['peak_rss_mb']:.0f}", f"{r.get('sampled_peak_rssanon_mb', 0):.0f}",
            f"{r.get('sampled_peak_rssfile_mb', 0):.0f}", f"{r['train_seconds']:.1f}"]

  print(tables.markdown_table(
      ["corpus", "system", "words", "vocabulary", "peak RSS MB", "peak anon MB",
       "peak file MB", "train s"],
      [row(name, system) for name in results for system in results[name]]))
  jax = {name: runs["w2v_jax"] for name, runs in results.items()}

  def peak(name: str, key: str = "peak_rss_mb") -> float:
    return jax[name].get(key) or float("nan")

  ratios = {
      "one_line_over_lines": peak("one_line") / peak("lines"),
      "x4_over_x1": peak("lines_x4") / peak("lines"),
      # Same vocabulary, a quarter of the corpus: what the corpus's size alone costs.
      "x4_over_x1_same_vocabulary": peak("lines_x4") / peak("lines_vocab_of_x4"),
      "x4_over_x1_same_vocabulary_anonymous": peak("lines_x4", "sampled_peak_rssanon_mb")
                                              / peak("lines_vocab_of_x4",
                                                     "sampled_peak_rssanon_mb"),
  }
  print("\nw2v_jax: " + ", ".join(f"{k} {v:.3f}" for k, v in ratios.items()))
  print(f"machine: {jobs_lib.describe_machine(jobs_lib.machine_info())}")
  if args.json:
    io_utils.atomic_write_json(args.json, {"command": " ".join(sys.argv), "corpus": args.corpus,
                                           "machine": jobs_lib.machine_info(), "results": results,
                                           "w2v_jax_ratios": ratios})
  return 0


if __name__ == "__main__":
  sys.exit(main())
