#!/bin/bash
# Prints, one per line, the Debian/Ubuntu packages that own the shared libraries a binary links
# (`ldd`), and fails naming any library that no package owns (the GPU driver's own libraries
# excepted). The CUDA image installs exactly these in its runtime stage; CI compares them with the
# CPU runtime stage's list.
#   runtime-packages.sh BINARY
set -euo pipefail
binary="${1:?usage: runtime-packages.sh BINARY}"
# libcuda and libnvidia-ml belong to the host's driver: the NVIDIA container toolkit mounts them.
# With SKIP_CUDA_TOOLKIT=1, libraries from a CUDA toolkit outside the package manager
# (/usr/local/cuda*) are left out too: the CPU image builds onnxd without the toolkit, so CI
# compares its list with a CUDA-enabled development build that way.
all="$(ldd "$binary")"
out="$(grep -Ev '^\s*lib(cuda|nvidia-ml)\.so\.1 ' <<<"$all" || true)"
if [ "${SKIP_CUDA_TOOLKIT:-0}" = 1 ]; then
  out="$(grep -Ev '=> /usr/local/cuda[^ ]*/lib' <<<"$out" || true)"
fi
if grep -q "not found" <<<"$out"; then
  echo "runtime-packages: $binary has unresolved libraries:" >&2
  grep "not found" <<<"$out" >&2
  exit 1
fi
mapfile -t libs < <(awk '$2 == "=>" && $3 ~ /^\// {print $3}' <<<"$out")
[ "${#libs[@]}" -gt 0 ] || { echo "runtime-packages: ldd lists no libraries for $binary" >&2; exit 1; }

# With merged /usr dpkg knows only the spelling the package shipped (/lib/... or /usr/lib/...):
# ask about each path, its real path, and both with the other spelling, in one dpkg call.
candidates() {
  local p
  for p in "$1" "$(readlink -f "$1")"; do
    echo "$p"
    if [[ "$p" == /usr/* ]]; then echo "${p#/usr}"; else echo "/usr$p"; fi
  done
}
declare -A owner_of
mapfile -t paths < <(for lib in "${libs[@]}"; do candidates "$lib"; done | sort -u)
while IFS= read -r line; do
  owner_of["${line#*: }"]="${line%%:*}"
done < <(dpkg -S "${paths[@]}" 2>/dev/null || true)

for lib in "${libs[@]}"; do
  found=""
  while IFS= read -r p; do
    if [ -n "${owner_of[$p]:-}" ]; then found="${owner_of[$p]}"; break; fi
  done < <(candidates "$lib")
  [ -n "$found" ] || { echo "runtime-packages: no package owns $lib" >&2; exit 1; }
  echo "$found"
done | sort -u
