#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (AddressSanitizer and UBSan on) and
# runs each for FUZZ_SECONDS (default 60) on its seed corpus. A crash fails
# the run; its input is kept in build-fuzz/crashes/ and belongs in the
# target's corpus as a regression test once fixed.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_EACH=${FUZZ_SECONDS:-60}
OUT=${FUZZ_BUILD:-build-fuzz}
CXX=${FUZZ_CXX:-clang++}
mkdir -p "$OUT/crashes" "$OUT/work"
FLAGS="-std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -D_GNU_SOURCE -I. -I$OUT"
printf '#pragma once\n#define SA_VERSION "fuzz"\n#define SA_LIBEXECDIR "/nonexistent"\n#define SA_STATEDIR "/nonexistent"\n#define SA_HAVE_SYSTEMD 0\n#define SA_PORTABLE 0\n' > "$OUT/sa_build_config.h"
# Every file of common/: the targets that parse configuration and job requests
# reach most of it, and a file added there is then never missing here.
COMMON=$(ls common/*.cpp | tr '\n' ' ')
declare -A SRC=(
  [job_request]="$COMMON"
  [config]="$COMMON"
  [frame]="common/frame.cpp"
  [jwt]="daemon/serve/jwt.cpp common/base64.cpp common/json.cpp"
  [chunker]="worker/chunker.cpp"
  [marker]="worker/marker.cpp common/shell_quote.cpp"
  [http_request]="daemon/http/http_request.cpp daemon/serve/jwt.cpp common/base64.cpp common/json.cpp $OUT/llhttp/*.o"
)
declare -A LIBS=([job_request]="-ljansson -lyaml" [config]="-ljansson -lyaml" [jwt]="-ljansson -lcrypto"
                [http_request]="-ljansson -lcrypto")
# llhttp is C from Debian's node-llhttp: compiled once, with the same sanitizers.
LLHTTP_SRC=${LLHTTP_DIR:-/usr/share/llhttp}
LLHTTP_INC=${LLHTTP_INCLUDE_DIR:-/usr/share/include/llhttp}
mkdir -p "$OUT/llhttp"
for c in api http llhttp; do
  ${FUZZ_CC:-clang} -O1 -g -fsanitize=fuzzer-no-link,address,undefined -I"$LLHTTP_INC" \
    -c "$LLHTTP_SRC/$c.c" -o "$OUT/llhttp/$c.o"
done
FLAGS="$FLAGS -I$LLHTTP_INC"
status=0
built=()
for t in job_request config frame jwt chunker marker http_request; do
  echo "== fuzz_$t: building"
  # shellcheck disable=SC2086
  if $CXX $FLAGS -o "$OUT/fuzz_$t" "tests/fuzz/fuzz_$t.cpp" ${SRC[$t]} ${LIBS[$t]:-}; then
    built+=("$t")
  else
    echo "FAIL  fuzz_$t (does not build)"
    status=1
  fi
done
run_one() {
  local t=$1
  mkdir -p "$OUT/work/$t"
  if "$OUT/fuzz_$t" -max_total_time="$SECONDS_EACH" -print_final_stats=1 -artifact_prefix="$OUT/crashes/$t-" \
       "$OUT/work/$t" "tests/fuzz/corpus/$t" > "$OUT/fuzz_$t.log" 2>&1; then
    echo "PASS  fuzz_$t ($(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$OUT/fuzz_$t.log" | grep -o '[0-9]*$') runs in ${SECONDS_EACH}s)"
  else
    echo "FAIL  fuzz_$t (see $OUT/fuzz_$t.log and $OUT/crashes/)"
    tail -30 "$OUT/fuzz_$t.log"
    return 1
  fi
}
# Two at a time: the machine has two cores.
targets=("${built[@]}")
for ((i = 0; i < ${#targets[@]}; i += 2)); do
  run_one "${targets[i]}" & p1=$!
  p2=
  if (( i + 1 < ${#targets[@]} )); then run_one "${targets[i+1]}" & p2=$!; fi
  wait $p1 || status=1
  if [ -n "$p2" ]; then wait $p2 || status=1; fi
done
exit $status
