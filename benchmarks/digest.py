r"""Digests of the vectors each combination trains in one epoch on the bundled corpus.

  python benchmarks/digest.py --json before.json -- --step generic
  python benchmarks/digest.py --compare before.json -- --step generic

A change that must not change behaviour (a refactoring) leaves these unchanged: the same flags
and seed give bit-identical vectors on one machine (the fused step at --threads 1). Run it before
the change with --json and after it with --compare; train flags after `--` go to every run.
Each run is `python -m experiments.train` in a subprocess, so the checkout's own code trains.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from w2v_jax import io_utils  # pylint: disable=wrong-import-position

COMBOS = {
    "sg-ns": [],
    "cbow-ns": ["--model", "cbow"],
    "sg-hs": ["--hs", "--num_ns", "0"],
    "cbow-hs": ["--model", "cbow", "--hs", "--num_ns", "0"],
    "subwords": ["--subwords", "--bucket", "200000"],
}


def digest(flags: list[str], extra: list[str]) -> str:
  """sha256 of vectors.bin of one epoch with `flags`, seed 3."""
  with tempfile.TemporaryDirectory(prefix="w2v_digest_") as out:
    command = [sys.executable, "-m", "experiments.train", "--out_dir", out, "--epochs", "1",
               "--noprogress", "--seed", "3", *flags, *extra]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if run.returncode != 0:
      raise SystemExit(f"{' '.join(command)} failed:\n{run.stderr[-2000:]}")
    with open(os.path.join(out, "vectors.bin"), "rb") as f:
      return hashlib.sha256(f.read()).hexdigest()


def main() -> int:
  argv = sys.argv[1:]
  extra = argv[argv.index("--") + 1:] if "--" in argv else []
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--json", help="write the digests here")
  parser.add_argument("--compare", help="the digests to compare with (a --json file)")
  parser.add_argument("--combos", default=",".join(COMBOS))
  args = parser.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
  got = {}
  for name in args.combos.split(","):
    got[name] = digest(COMBOS[name], extra)
    print(name, got[name], flush=True)
  if args.json:
    io_utils.atomic_write_json(args.json, {"digests": got, "train_flags": extra})
  if args.compare:
    with open(args.compare, encoding="utf-8") as f:
      want = json.load(f)["digests"]
    different = [k for k in got if want.get(k) != got[k]]
    print("identical" if not different else f"different: {', '.join(different)}")
    return 1 if different else 0
  return 0


if __name__ == "__main__":
  sys.exit(main())
