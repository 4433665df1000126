#!/usr/bin/env bash
# Entry points for w2v_jax; runs from the repository root, so relative paths start there.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON="${PYTHON:-python}"

usage() {
  cat <<'EOF'
usage: ./launch.sh COMMAND [ARGS...]     (paths are relative to the repository root)

  quickstart [train flags]       train on the bundled KJV into runs/quickstart
  test [pytest args]             run the tests (python -m pytest -q)
  sweep NAME [--parallel N] [--sweep_dir DIR] [--dry_run] [train flags]
                                 run a named sweep (default dir runs/sweeps/NAME); finished runs
                                 are skipped, interrupted ones resumed. Other flags go to every run.
  sweep list                     show the sweeps, their commands and runtimes
  compare DIR... [--metric M] [--out DIR] [--plots]
                                 table (and plots) of runs or sweep directories
  bench throughput|quality [args]
                                 benchmarks/throughput.py or benchmarks/quality.py
  help                           this message

examples:
  ./launch.sh quickstart --epochs 1
  ./launch.sh sweep window_ns_dim --parallel 2
  ./launch.sh compare runs/sweeps/window_ns_dim --plots
EOF
}

cd "$ROOT"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"

command="${1:-}"
[[ $# -gt 0 ]] && shift
case "$command" in
  quickstart)
    exec "$PYTHON" -m experiments.train --out_dir runs/quickstart "$@"
    ;;
  test)
    exec "$PYTHON" -m pytest -q "$@"
    ;;
  sweep)
    if [[ $# -eq 0 ]]; then
      echo "error: sweep needs a NAME (./launch.sh sweep list shows them)" >&2
      exit 2
    fi
    name="$1"
    shift
    if [[ "$name" == list ]]; then
      exec "$PYTHON" -m experiments.launcher list
    fi
    # The launcher's own flags go before `--`, everything else after it, to the runs.
    own=(--sweep_dir "runs/sweeps/$name")
    extra=()
    while [[ $# -gt 0 ]]; do
      case "$1" in
        --parallel|--sweep_dir)
          if [[ $# -lt 2 ]]; then echo "error: $1 needs a value" >&2; exit 2; fi
          own+=("$1" "$2"); shift 2 ;;
        --parallel=*|--sweep_dir=*|--dry_run|--nodry_run) own+=("$1"); shift ;;
        --) shift; extra+=("$@"); break ;;
        *) extra+=("$1"); shift ;;
      esac
    done
    exec "$PYTHON" -m experiments.launcher run "$name" "${own[@]}" -- "${extra[@]}"
    ;;
  compare)
    exec "$PYTHON" -m experiments.compare "$@"
    ;;
  bench)
    case "${1:-}" in
      throughput|quality) script="benchmarks/$1.py"; shift; exec "$PYTHON" "$script" "$@" ;;
      *) echo "error: bench needs throughput or quality" >&2; exit 2 ;;
    esac
    ;;
  help|-h|--help)
    usage
    ;;
  *)
    [[ -n "$command" ]] && echo "error: unknown command '$command'" >&2
    usage >&2
    exit 2
    ;;
esac
