#!/usr/bin/env bash
# Instructions per tick of each stage of the fused engine, counted by callgrind (the same on
# any machine and under any load, unlike time).
#
#     bash scripts/stage-instructions.sh [TICKS] [CONFIG]
#
# Runs `dalal backtest` on TICKS generated ticks (default 1,000,000) of CONFIG (default
# config/backtest.toml) under `valgrind --tool=callgrind` and splits the engine's inclusive
# count at the stage boundaries. `Engine::step` passes each message depth first through
# closures, and the optimiser keeps one function per boundary:
#
#     Engine::step                        the step itself and the candle stage, then …
#     Engine::step::{{closure}}           … the strategy stage, then …
#     RiskStage::on_msg                   … the risk stage, then …
#     Engine::step::{{closure}}^3         … the order stage, paper venue and portfolio.
#
# so a stage's own count is its function's inclusive count minus the next one's. If the
# optimiser inlines differently after a change, the script says which boundary it lost.
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
callgrind_annotate --inclusive=yes "$work/cg.out" >"$work/annotated.txt"

# Inclusive count of a function: callgrind_annotate lists a function once per source file its
# code came from (inlining), so its own total is the largest of those lines.
inclusive() {
    grep -E "^ *[0-9,]+ \([ 0-9.]+%\)  [^=][^ ]*:[^ ]*$1( \[.*\])?$" "$work/annotated.txt" \
        | awk '{gsub(",", "", $1); if ($1 + 0 > max + 0) max = $1 + 0} END {if (max) print max}'
}
run=$(inclusive 'engine::backtest::run')
step=$(inclusive 'engine::Engine::step')
strategy=$(inclusive 'engine::Engine::step::\{\{closure\}\}')
risk=$(inclusive 'risk::RiskStage::on_msg')
order=$(inclusive 'engine::Engine::step::\{\{closure\}\}::\{\{closure\}\}::\{\{closure\}\}')
for v in run step strategy risk order; do
    if [ -z "${!v}" ]; then
        echo "no separate function for the $v boundary in this build: the split needs updating" >&2
        exit 1
    fi
done
per() { echo "scale=1; $1 / $ticks" | bc; }
printf '%-34s %10s\n' "instructions per tick" "count"
printf '%-34s %10s\n' "candle (and the step itself)" "$(per $((step - strategy)))"
printf '%-34s %10s\n' "strategy" "$(per $((strategy - risk)))"
printf '%-34s %10s\n' "risk" "$(per $((risk - order)))"
printf '%-34s %10s\n' "order, paper venue, portfolio" "$(per "$order")"
printf '%-34s %10s\n' "Engine::step, all stages" "$(per "$step")"
printf '%-34s %10s\n' "backtest loop, all" "$(per "$run")"
