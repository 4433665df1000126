r"""Trains each combination for one epoch on the bundled corpus and prints a digest of its vectors.

  python benchmarks/digest.py --json before.json [-- train flags]
  python benchmarks/digest.py --compare before.json [-- train flags]

A refactoring must leave these digests unchanged: the same flags and seed give bit-identical
vectors. Train flags after `--` go to every run (e.g. --step generic).
"""
import argparse, hashlib, json, os, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMBOS = {
    "sg-ns": [],
    "cbow-ns": ["--model", "cbow"],
    "sg-hs": ["--hs", "--num_ns", "0"],
    "cbow-hs": ["--model", "cbow", "--hs", "--num_ns", "0"],
    "subwords": ["--subwords", "--bucket", "200000"],
}


def digest(flags, extra):
  with tempfile.TemporaryDirectory(prefix="w2v_digest_") as out:
    cmd = [sys.executable, "-m", "experiments.train", "--out_dir", out, "--epochs", "1",
           "--noprogress", "--seed", "3", *flags, *extra]
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if run.returncode != 0:
      raise SystemExit(f"{' '.join(cmd)} failed:\n{run.stderr[-2000:]}")
    with open(os.path.join(out, "vectors.bin"), "rb") as f:
      return hashlib.sha256(f.read()).hexdigest()


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--json")
  parser.add_argument("--compare")
  parser.add_argument("--combos", default=",".join(COMBOS))
  argv = sys.argv[1:]
  extra = argv[argv.index("--") + 1:] if "--" in argv else []
  args = parser.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
  got = {}
  for name in args.combos.split(","):
    got[name] = digest(COMBOS[name], extra)
    print(name, got[name], flush=True)
  if args.json:
    with open(args.json, "w") as f:
      json.dump({"digests": got, "extra": extra}, f, indent=2)
  if args.compare:
    with open(args.compare) as f:
      want = json.load(f)["digests"]
    bad = [k for k in got if want.get(k) != got[k]]
    print("identical" if not bad else f"DIFFERENT: {', '.join(bad)}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
  main()
