#!/usr/bin/env bash
# Generates the Kotlin, Swift and Python sources of the gridwarden bindings.
#
#   mobile-bindings/generate.sh OUT_DIR [kotlin|swift|python ...]   (default: all three)
#
# Builds the host library (cdylib) and uniffi-bindgen from this crate, then
# has uniffi-bindgen read the interface out of the built library and write
# the sources into OUT_DIR: OUT_DIR/kotlin, OUT_DIR/swift, OUT_DIR/python.
# The Python directory also gets a copy of the library next to its module,
# where the module loads it from, so `PYTHONPATH=OUT_DIR/python` is enough.
# The phone libraries themselves are built per target (docs/mobile.md);
# the generated sources do not depend on the target they were read from.
#
# Environment: CARGO (the cargo to run) and CARGO_TARGET_DIR are honoured;
# GRIDWARDEN_PROFILE picks the cargo profile (`dev`, the default, or
# `release`).
set -euo pipefail

if [ $# -lt 1 ]; then
  echo "usage: $0 OUT_DIR [kotlin|swift|python ...]" >&2
  exit 64
fi
out_dir=$1
shift
languages=("$@")
[ ${#languages[@]} -gt 0 ] || languages=(kotlin swift python)
for language in "${languages[@]}"; do
  case "$language" in
    kotlin | swift | python) ;;
    *)
      echo "$0: unknown language '$language' (kotlin, swift or python)" >&2
      exit 64
      ;;
  esac
done

workspace=$(cd "$(dirname "$0")/.." && pwd)
profile=${GRIDWARDEN_PROFILE:-dev}
case "$profile" in
  dev) profile_dir=debug ;;
  release) profile_dir=release ;;
  *)
    echo "$0: GRIDWARDEN_PROFILE must be dev or release, not '$profile'" >&2
    exit 64
    ;;
esac
target_dir=${CARGO_TARGET_DIR:-$workspace/target}
case "$(uname -s)" in
  Darwin) library_file=libgridwarden_mobile.dylib ;;
  *) library_file=libgridwarden_mobile.so ;;
esac

# One build for both: the library and the generator then share one uniffi.
"${CARGO:-cargo}" build --quiet --manifest-path "$workspace/Cargo.toml" --profile "$profile" \
  -p gridwarden-mobile --features bindgen --lib --bin uniffi-bindgen

library="$target_dir/$profile_dir/$library_file"
mkdir -p "$out_dir"
for language in "${languages[@]}"; do
  # --no-format: ktlint and swiftformat are rarely installed, and the
  # sources are compiled, not read.
  "$target_dir/$profile_dir/uniffi-bindgen" generate --no-format \
    --language "$language" --out-dir "$out_dir/$language" "$library"
  if [ "$language" = python ]; then
    cp "$library" "$out_dir/python/"
  fi
done
