#!/usr/bin/env bash
# Quality of tvae's default settings against the reference's on every shared table, seeds 0 1 2
# (the `bench` extra). A run of the reference that fails (e.g. on missing values) is recorded.
# Usage: bash benchmarks/all_tables.sh DATASETS_DIR [OUT.jsonl] [extra quality.py args...]
# Large tables are subsampled to 20,000 rows first (--max-rows) to keep the run affordable.
set -euo pipefail
dir=${1:?give the folder holding adult.csv, bank.csv, ...}
out=${2:-benchmarks/results/all_tables.jsonl}
shift $(( $# > 1 ? 2 : 1 ))
here=$(dirname "$0")
run() { python "$here/quality.py" "$dir/$1" --seeds 0 1 2 --implementations tvae ctgan --max-rows 20000 --out "$out" "${@:2}"; }
run titanic.csv --target survived --label tvae-default "$@"
run bank.csv --target churn --label tvae-default "$@"
run beijing.csv --label tvae-default "$@"
run covtype.csv.gz --target Cover_Type --label tvae-default "$@"
run census.csv.gz --target income --label tvae-default "$@"
run intrusion.csv.gz --target label --label tvae-default "$@"
