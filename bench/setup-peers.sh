#!/bin/sh
# Sets up the C peers of the benchmarks (Debian/Ubuntu; as root, or with sudo): installs
# emscripten (the em-* and wasm-mimalloc columns), libmimalloc-dev and gcc (native-* columns) and
# dpkg-dev (for `apt-get source`), makes sure apt has a deb-src entry for the archive it installs
# from, and unpacks mimalloc's Debian source into build/bench/src/ (not committed; the bench builds
# it with emcc itself, bench/build-c.mjs). Idempotent: does only what is missing.
# `npm run bench` does not need it: without a toolchain or the source it says so in one line and
# leaves those columns out.
# Usage: npm run bench:setup   (or: sh bench/setup-peers.sh)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
src="$root/build/bench/src"
if [ "$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null; then SUDO=sudo; else
  echo "setup-peers: needs root or sudo (apt-get install)" >&2; exit 1; fi
command -v apt-get >/dev/null || { echo "setup-peers: apt-get not found (Debian/Ubuntu only)" >&2; exit 1; }

# deb-src: the deb822 sources get "deb-src" added to their Types; one-line sources get a deb-src
# twin of each deb line (in a file of its own).
has_src() {
  grep -qsE '^[[:space:]]*Types:.*deb-src' /etc/apt/sources.list.d/*.sources ||
    grep -qsE '^[[:space:]]*deb-src[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list
}
updated=
if ! has_src; then
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && $SUDO sed -i -E 's/^([[:space:]]*Types:[[:space:]]*deb)[[:space:]]*$/\1 deb-src/' "$f"
  done
  if ! has_src && [ -f /etc/apt/sources.list ]; then
    sed -n -E 's/^[[:space:]]*deb[[:space:]]/deb-src /p' /etc/apt/sources.list | $SUDO tee /etc/apt/sources.list.d/ftheap-deb-src.list >/dev/null
  fi
  has_src || { echo "setup-peers: could not add a deb-src entry; add one for your archive by hand" >&2; exit 1; }
  echo "setup-peers: added deb-src entries"
  $SUDO apt-get update -qq; updated=1
fi

missing=
for p in emscripten libmimalloc-dev dpkg-dev gcc; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
  [ -n "$updated" ] || $SUDO apt-get update -qq
  echo "setup-peers: installing$missing"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
fi

# mimalloc's source, the version apt installs (libmimalloc-dev's); kept once unpacked
if ls "$src"/mimalloc-*/src/static.c >/dev/null 2>&1; then
  echo "setup-peers: mimalloc source present: $(ls -d "$src"/mimalloc-*/ | head -1)"
else
  mkdir -p "$src"
  (cd "$src" && apt-get source -qq mimalloc)
  ls "$src"/mimalloc-*/src/static.c >/dev/null 2>&1 || { echo "setup-peers: apt-get source mimalloc did not unpack a source tree" >&2; exit 1; }
  echo "setup-peers: mimalloc source in $(ls -d "$src"/mimalloc-*/ | head -1)"
fi
echo "setup-peers: done (emcc $(emcc --version | head -1 | sed -E 's/.* ([0-9]+\.[0-9]+\.[0-9]+).*/\1/'), gcc $(gcc -dumpfullversion))"
