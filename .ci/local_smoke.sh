#!/usr/bin/env bash
# The embedded model from nothing: a fresh venv and an empty pip cache, then
#   pip install -e '.[local]' && talkline local install     (timed; no compiler)
#   talkline "What is the capital of France?"                (no network; mentions Paris)
set -euo pipefail
cd "$(dirname "$0")/.."  # repo-boundary: ok (from .ci/ to the repository root)

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
export PIP_CACHE_DIR="$work/pip-cache" PIP_DISABLE_PIP_VERSION_CHECK=1
# Any compiler run during the install shows up here (a PATH shim that records and fails).
mkdir -p "$work/shims"
for cc in cc gcc g++ c++ clang cmake; do
  printf '#!/bin/sh\necho "%s $*" >> "%s/compiler.log"\nexit 1\n' "$cc" "$work" \
    > "$work/shims/$cc"
  chmod +x "$work/shims/$cc"
done

start=$(date +%s.%N)
PATH="$work/shims:$PATH" "$work/venv/bin/python" -m pip install --quiet -e '.[local]'
"$work/venv/bin/talkline" local install
end=$(date +%s.%N)
seconds=$(python3 -c "print(f'{$end - $start:.1f}')")
echo "== local smoke: pip install -e '.[local]' + talkline local install took ${seconds} s"
if [ -s "$work/compiler.log" ]; then
  echo "a compiler was run during the install:" >&2
  cat "$work/compiler.log" >&2
  exit 1
fi

home="$work/home"
mkdir -p "$home"
cmd=(env -u OPENAI_API_KEY TALKLINE_HOME="$home" NO_COLOR=1
     "$work/venv/bin/talkline" "What is the capital of France?")
if command -v unshare >/dev/null && command -v ip >/dev/null \
    && unshare -n sh -c 'ip link set lo up' 2>/dev/null; then
  answer=$(unshare -n sh -c 'ip link set lo up && exec "$@"' sh "${cmd[@]}")
else
  answer=$(PYTHONPATH="$PWD/tests/offline_site" "${cmd[@]}")
fi
echo "$answer"
case "$answer" in
  *Paris*) echo "== local smoke: offline answer mentions Paris" ;;
  *) echo "the offline answer does not mention Paris" >&2; exit 1 ;;
esac
