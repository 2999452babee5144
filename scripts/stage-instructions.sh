#!/usr/bin/env bash
# Instructions per tick of each stage of the fused engine, counted by callgrind (the same on
# any machine and under any load, unlike time).
#
#     bash scripts/stage-instructions.sh [TICKS] [CONFIG]
#
# Runs `dalal backtest` on TICKS generated ticks (default 1,000,000) of CONFIG (default
# config/backtest.toml) under `valgrind --tool=callgrind`. A tick goes through the stages in
# one function (`Engine::step` with every stage inlined), so the split is by source: each
# instruction counts for the file its code came from — the candle, strategy, risk and order
# stages (the order stage with the paper venue and the portfolio), the step itself — and
# standard-library code inlined into them (iterators, slices, integer arithmetic), which
# callgrind cannot give back to a stage, is shown on its own line.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in valgrind callgrind_annotate bc; do
    command -v "$tool" >/dev/null || { echo "needs $tool (Debian: apt-get install valgrind bc)" >&2; exit 1; }
done
ticks=${1:-1000000}
config=${2:-config/backtest.toml}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT; [ -n "${KEEP:-}" ] && trap - EXIT && echo "$work" >&2

cargo build --release --quiet --bin dalal
./target/release/dalal gen --config "$config" --out "$work/ticks.csv" --ticks "$ticks" >/dev/null
valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" \
    ./target/release/dalal backtest --config "$config" --data "$work/ticks.csv" --out "$work/out" \
    >/dev/null 2>&1
callgrind_annotate --inclusive=no --show-percs=no "$work/cg.out" >"$work/self.txt"
callgrind_annotate --inclusive=yes --show-percs=no "$work/cg.out" >"$work/inclusive.txt"

# Self counts of the engine's code (functions of dalal_core, outside file loading), summed by
# the file a line came from.
self_of() {
    awk -v pat="^$1" '$1 ~ /^[0-9,]+$/ && $2 ~ pat && $2 ~ /dalal_core::(engine|stages|strategies|indicators|model)/ \
        && $2 !~ /parse_rupees|csv_ticks|Calibration/ {gsub(",", "", $1); s += $1} END {print s + 0}' "$work/self.txt"
}
inclusive() {
    awk -v pat="$1( [[].*[]])?$" '$1 ~ /^[0-9,]+$/ && $0 ~ pat && $2 !~ /^=/ {gsub(",", "", $1); if ($1 + 0 > max) max = $1 + 0} END {print max + 0}' \
        "$work/inclusive.txt"
}
candle=$(self_of '([^ ]*/)?core/src/stages/candle/')
strategy=$(( $(self_of '([^ ]*/)?core/src/stages/strategy/') + $(self_of '([^ ]*/)?core/src/strategies/') + $(self_of '([^ ]*/)?core/src/indicators/') ))
risk=$(self_of '([^ ]*/)?core/src/stages/risk.rs')
order=$(( $(self_of '([^ ]*/)?core/src/stages/order/') + $(self_of '([^ ]*/)?core/src/stages/portfolio.rs') + $(self_of '([^ ]*/)?core/src/stages/charges.rs') ))
engine=$(self_of '([^ ]*/)?core/src/engine/')
model=$(self_of '([^ ]*/)?core/src/model/')
library=$(self_of '/(rustc|rust)/')
step=$(inclusive 'engine::Engine::step')
run=$(inclusive 'engine::backtest::run')
calibration=$(inclusive 'quanta::Calibration::calibrate')
per() { echo "scale=1; $1 / $ticks" | bc; }
printf '%-44s %10s\n' "instructions per tick" "count"
printf '%-44s %10s\n' "candle stage" "$(per "$candle")"
printf '%-44s %10s\n' "strategy stage (with indicators, strategies)" "$(per "$strategy")"
printf '%-44s %10s\n' "risk stage" "$(per "$risk")"
printf '%-44s %10s\n' "order stage, paper venue, portfolio" "$(per "$order")"
printf '%-44s %10s\n' "the step itself (engine/)" "$(per "$engine")"
printf '%-44s %10s\n' "model types (prices, quantities, time)" "$(per "$model")"
printf '%-44s %10s\n' "standard library inlined into the above" "$(per "$library")"
printf '%-44s %10s\n' "Engine::step, all" "$(per "$step")"
printf '%-44s %10s\n' "backtest loop, all (less clock calibration)" "$(per $((run - calibration)))"
