#!/usr/bin/env python3
"""Turns a .cu file into C++ for onnxd's CUDA emulator (tests/cuda_emu/README.md).

Two rewrites, everything else is left to device.h (force-included):
  Kernel<T><<<grid, block, smem, stream>>>(args)  ->  ::onnxd::cuda_emu::Launcher(grid, block, smem, stream).Run(Kernel<T>, args)
  extern __shared__ [__align__(n)] T name[];       ->  T* name = static_cast<T*>(::onnxd::cuda_emu::DynamicShared());
A launch the pattern does not recognize is an error, so no kernel is silently left out.

usage: convert_cu.py IN.cu OUT.cc
"""
import re
import sys

DYNAMIC_SHARED = re.compile(r"extern\s+__shared__\s+(?:__align__\(\s*\d+\s*\)\s+)?([A-Za-z_][\w\s:]*?)\s+(\w+)\s*\[\s*\]\s*;")
LAUNCH = re.compile(r"<<<(.*?)>>>\s*\((\s*\))?", re.S)


def kernel_start(text, end):
    """Where the kernel name ending at `end` (just before <<<) starts: an identifier with ::, and
    its template arguments (balanced <>) when it has them."""
    i = end
    while i > 0 and text[i - 1] == " ":
        i -= 1
    if i > 0 and text[i - 1] == ">":
        depth = 0
        while i > 0:
            i -= 1
            if text[i] == ">":
                depth += 1
            elif text[i] == "<":
                depth -= 1
                if depth == 0:
                    break
    while i > 0 and (text[i - 1].isalnum() or text[i - 1] in "_:"):
        i -= 1
    return i


def convert(text, path):
    out, pos = [], 0
    for m in LAUNCH.finditer(text):
        start = kernel_start(text, m.start())
        kernel = text[start:m.start()].strip()
        if start < pos or not kernel or not (kernel[0].isalpha() or kernel[0] in "_:"):
            line = text.count("\n", 0, m.start()) + 1
            sys.exit(f"{path}:{line}: a kernel launch convert_cu.py does not recognize")
        config, no_args = m.groups()
        out.append(text[pos:start])
        out.append(f"::onnxd::cuda_emu::Launcher({config}).Run({kernel}" + (")" if no_args else ", "))
        pos = m.end()
    out.append(text[pos:])
    converted = DYNAMIC_SHARED.sub(
        lambda d: f"{d.group(1)}* {d.group(2)} = static_cast<{d.group(1)}*>(::onnxd::cuda_emu::DynamicShared());",
        "".join(out))
    if "<<<" in converted:
        sys.exit(f"{path}: a kernel launch convert_cu.py left unconverted")
    return f'#line 1 "{path}"\n' + converted


def main():
    src, dst = sys.argv[1], sys.argv[2]
    with open(src, encoding="utf-8") as f:
        text = f.read()
    converted = convert(text, src)
    try:
        with open(dst, encoding="utf-8") as f:
            if f.read() == converted:
                return
    except FileNotFoundError:
        pass
    with open(dst, "w", encoding="utf-8") as f:
        f.write(converted)


if __name__ == "__main__":
    main()
