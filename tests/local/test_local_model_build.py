"""The bundled llama.cpp runs on any x86-64 machine: its libraries hold no AVX-512, AMX or AVX-VNNI code.

A native build (-march=native) on a machine whose CPU lists AMX compiles AMX tile code and AVX-512 into
libggml-cpu.so: on a VM whose kernel does not let a process use AMX tiles the model server then dies at its
first completion (`ldtilecfg`), and on a CPU without AVX-512 at its first EVEX instruction. The Makefile
builds for AVX2/FMA/F16C instead (docs/local-model.md); this disassembles what is installed. objdump comes
with binutils, whose assembler and linker built llama.cpp, so wherever `make install` could build it, it is
there; without it the test is skipped and says so.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

import pytest

OBJDUMP = shutil.which("objdump")
AS = shutil.which("as")

# AMX (tile configuration, loads, stores, dot products) and VNNI dot products (AVX-VNNI's VEX forms;
# AVX512-VNNI's EVEX forms are caught as EVEX anyway).
AMX = re.compile(r"^(ldtilecfg|sttilecfg|tileload\w*|tilestore\w*|tilerelease|tilezero|tdp\w+)$")
VNNI = re.compile(r"^vpdp\w+$")
# Registers only AVX-512 has: zmm, xmm/ymm 16-31, opmask (k0-k7, whose kmov/kand/... are VEX-encoded).
AVX512_REGISTER = re.compile(r"%(zmm\d+|[xy]mm(1[6-9]|2\d|3[01])|k[0-7])\b")
# Prefixes that may precede an EVEX prefix (0x62): address size and segment overrides.
_MAY_PRECEDE_EVEX = {"67", "2e", "3e", "26", "36", "64", "65"}
# Lines that may hold any of the above (a quick pass over ~10^5 lines; each is then looked at properly).
_CANDIDATE = re.compile(r"^.*(?:\t(?:(?:67|2e|3e|26|36|64|65) )*62 |%zmm|%[xy]mm[123]\d|%k[0-7]|tile|tdp|vpdp).*$",
                        re.MULTILINE)


def beyond_avx2(objdump_output: str) -> dict[str, list[str]]:
    """Instructions in `objdump -d -w` output that an AVX2 machine cannot run, by instruction set."""
    found: dict[str, list[str]] = {"AMX": [], "AVX-512": [], "AVX-VNNI": []}
    for match in _CANDIDATE.finditer(objdump_output):
        parts = match.group().split("\t")
        if len(parts) < 3 or not parts[0].strip().endswith(":"):
            continue
        raw, instruction = parts[1].split(), parts[2].strip()
        mnemonic = next((word for word in instruction.split() if not word.startswith("{")), "")  # not {vex}
        while raw and raw[0] in _MAY_PRECEDE_EVEX:
            raw = raw[1:]
        if AMX.match(mnemonic):
            found["AMX"].append(instruction)
        elif (raw and raw[0] == "62" and mnemonic != "(bad)") or AVX512_REGISTER.search(instruction):
            found["AVX-512"].append(instruction)  # 0x62 opens an EVEX (AVX-512) instruction in 64-bit code
        elif VNNI.match(mnemonic):
            found["AVX-VNNI"].append(instruction)
    return {kind: hits for kind, hits in found.items() if hits}


def disassemble(path: Path) -> str:
    assert OBJDUMP is not None
    return subprocess.run([OBJDUMP, "-d", "-w", str(path)], check=True, capture_output=True,  # noqa: S603
                          text=True).stdout


def ggml_libraries() -> list[Path]:
    """The installed libggml*.so, each once (a wheel holds no symlinks: the versioned names are copies). The code
    that depends on the CPU flags is ggml's (-march=native is ggml's own build option); llama and mtmd call it."""
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or not spec.submodule_search_locations:
        return []
    package = Path(next(iter(spec.submodule_search_locations)))
    unique = {hashlib.sha256(p.read_bytes()).digest(): p for p in sorted(package.rglob("libggml*.so*"))}
    return sorted(unique.values())


def summary(found: dict[str, list[str]]) -> str:
    return "; ".join(f"{kind}: {len(hits)} (e.g. {', '.join(hits[:3])})" for kind, hits in found.items())


needs_objdump = pytest.mark.skipif(OBJDUMP is None, reason="objdump (binutils) is not installed: cannot "
                                   "disassemble llama.cpp to check its instruction sets")


@needs_objdump
def test_the_installed_llama_cpp_runs_on_any_x86_64_cpu() -> None:
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python (the local-model extra) is not installed")
    libraries = ggml_libraries()
    assert any(p.name.startswith("libggml-cpu") for p in libraries), f"no libggml-cpu among {libraries}"
    problems = {p.name: found for p in libraries if (found := beyond_avx2(disassemble(p)))}
    assert not problems, ("llama.cpp was built for this machine's CPU, not for any x86-64 (see the Makefile's "
                          "LLAMA_CPU_ARGS): " + " | ".join(f"{n}: {summary(f)}" for n, f in problems.items()))


def _assembled(tmp_path: Path, lines: Iterable[str]) -> str:
    source = tmp_path / "code.s"
    source.write_text("\t.text\n" + "".join(f"\t{line}\n" for line in lines))
    assert AS is not None
    subprocess.run([AS, "--64", "-o", str(tmp_path / "code.o"), str(source)], check=True)  # noqa: S603
    return disassemble(tmp_path / "code.o")


@needs_objdump
@pytest.mark.skipif(AS is None, reason="the GNU assembler (binutils) is not installed")
def test_the_check_finds_what_a_native_build_on_an_amx_machine_holds(tmp_path: Path) -> None:
    """What -march=native puts in libggml-cpu.so on a Sapphire Rapids VM; each must be found."""
    native = {
        "ldtilecfg (%rdi)": "AMX", "tileloadd (%rsi,%rdx,1), %tmm0": "AMX", "tdpbssd %tmm2, %tmm1, %tmm0": "AMX",
        "tilerelease": "AMX",
        "vmovups (%rsp), %zmm0": "AVX-512", "vpaddd %ymm17, %ymm18, %ymm19": "AVX-512",
        "kmovw %k1, %eax": "AVX-512", "{evex} vpaddd %ymm1, %ymm2, %ymm3": "AVX-512",
        "vpternlogd $0x96, %ymm1, %ymm2, %ymm3": "AVX-512", "{vex} vpdpbusd %ymm1, %ymm2, %ymm3": "AVX-VNNI",
    }
    for line, kind in native.items():
        found = beyond_avx2(_assembled(tmp_path, [line]))
        assert list(found) == [kind], (line, found)
    portable = ["vfmadd231ps %ymm1, %ymm2, %ymm3", "vpaddd %ymm1, %ymm2, %ymm3", "vcvtph2ps %xmm1, %ymm2",
                "vpermd %ymm1, %ymm2, %ymm3", "pdep %rax, %rbx, %rcx", "addps %xmm15, %xmm14", "ret"]
    assert beyond_avx2(_assembled(tmp_path, portable)) == {}
