"""Build fw_host: the firmware's portable core (firmware/core) on stdin/stdout, with a
deterministic fake engine or with TFLite Micro.

`ensure_fw_host()` builds with cmake when the binary is missing or older than its sources
(a file lock keeps pytest-xdist workers from building at once). `ensure_fw_tflm(dir)`
builds the same binary on main/tflm_engine.cc and TFLite Micro from `dir`
(build/fw-tflm/fw_host): the firmware's real engine on the host, which `--virtual-engine
fw-tflm` serves. Running fw_host under a test (and the fake engine's model format) is the
tests' business: tests_host/fw_host_process.py.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from filelock import FileLock

from vocabulary.locations import firmware_dir, writable_root

REPO_ROOT = writable_root()  # the checkout; the current directory under an installed wheel
FIRMWARE_DIR = firmware_dir()
HOST_SOURCE_DIR = FIRMWARE_DIR / "host"
BUILD_ROOT = REPO_ROOT / "build"
# What the host binaries are built from; a newer file here triggers a rebuild.
SOURCE_GLOBS = ("core/*.cc", "core/*.h", "core/*.def", "host/*.cc", "host/*.h", "host/CMakeLists.txt",
                "cmake/*.cmake", "main/registered_ops.txt", "main/esp_port.*",
                "host/idf_sim/*.cc", "host/idf_sim/include/*.h", "host/idf_sim/include/*/*.h")
#: What the TFLM build adds (its TFLite Micro sources are outside the repository, and read-only).
TFLM_SOURCE_GLOBS = ("main/tflm_engine.*", "host/*.cmake", "host/esp_nn_host/*.h", "host/esp_nn_host/*/*.h")


class FwHostBuildError(RuntimeError):
    """cmake failed; the message carries the command and the end of its output."""


def build_dir(sanitize: bool = False, fuzz: bool = False, tflm: bool = False) -> Path:
    if tflm:
        return BUILD_ROOT / "fw-tflm"
    if fuzz:
        return BUILD_ROOT / "fw-fuzz"
    return BUILD_ROOT / ("fw-host-asan" if sanitize else "fw-host")


def _newest_source_mtime(globs: Sequence[str] = SOURCE_GLOBS, extra: Sequence[Path] = ()) -> float:
    return max(p.stat().st_mtime for p in [*extra, *(p for g in globs for p in FIRMWARE_DIR.glob(g))])


def _run(cmd: Sequence[str], env: dict[str, str] | None = None) -> None:
    proc = subprocess.run(list(cmd), cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-4000:]
        raise FwHostBuildError(f"`{' '.join(cmd)}` failed with code {proc.returncode}:\n{tail}")


def _ensure_built(binary: Path, configure_args: list[str], env: dict[str, str] | None = None,
                  globs: Sequence[str] = SOURCE_GLOBS, extra_sources: Sequence[Path] = ()) -> Path:
    """Builds `binary` unless it is newer than every source and was configured with these
    arguments (recorded beside it: another TFLM_SOURCE_DIR means another binary)."""
    out = binary.parent
    out.parent.mkdir(parents=True, exist_ok=True)
    stamp = out / f".{binary.name}.configured"
    wanted = "\n".join(configure_args)
    with FileLock(str(out.parent / f".{out.name}.lock"), timeout=600):
        if (binary.exists() and binary.stat().st_mtime >= _newest_source_mtime(globs, extra_sources)
                and stamp.exists() and stamp.read_text() == wanted):
            return binary
        if shutil.which("cmake") is None:
            raise FwHostBuildError("cmake not found: install cmake and a C++17 compiler "
                                   "(Debian: apt-get install -y cmake g++)")
        _run(["cmake", "-S", str(HOST_SOURCE_DIR), "-B", str(out), *configure_args], env)
        _run(["cmake", "--build", str(out), "--target", binary.name, "-j", "2"], env)
        if not binary.exists():
            raise FwHostBuildError(f"cmake finished but {binary} is missing")
        binary.touch()  # an up-to-date target is not relinked; mark it checked
        stamp.write_text(wanted)
        return binary


def ensure_fw_host(sanitize: bool = False) -> Path:
    """Path of build/fw-host/fw_host (or build/fw-host-asan/fw_host with ASan+UBSan),
    built if missing or older than its sources."""
    args = ["-DFW_WERROR=ON"] + (["-DFW_SANITIZE=ON"] if sanitize else [])
    return _ensure_built(build_dir(sanitize) / "fw_host", args)


def ensure_esp_port_sim(console: str, idf_minor: int = 3) -> Path:
    """build/fw-host/esp_port_sim_<console>_v5<minor>: main/esp_port.cc on the simulated
    ESP-IDF console (firmware/host/idf_sim), console "uart" or "usb", ESP-IDF 5.<minor> API."""
    return _ensure_built(build_dir() / f"esp_port_sim_{console}_v5{idf_minor}", ["-DFW_WERROR=ON"])


def ensure_fw_tflm(source_dir: Path, ops_file: Path | None = None, *, arch: str = "native",
                   kernels: str = "reference", esp_nn_dir: Path | None = None) -> Path:
    """Path of build/fw-tflm/fw_host: fw_host on main/tflm_engine.cc and the TFLite Micro
    sources in `source_dir` (an esp-tflite-micro checkout; firmware/host/tflm.cmake), its
    resolver registering `ops_file`'s ops (default main/registered_ops.txt; another list
    builds in build/fw-tflm-<hash of its content>), built if
    missing, older than its sources, or configured for another directory or op list. The
    first build compiles TFLM (minutes on two cores).

    `arch="m32"` builds it 32-bit as on a chip (-m32 -malign-double), `kernels` names the
    kernels a target's firmware compiles (FW_KERNELS: reference, esp_nn_ansi, esp_nn_generic,
    esp_nn_scratch_<chip>; all but reference need `esp_nn_dir`, an esp-nn checkout): each
    in build/fw-tflm-<arch>-<kernels>. With ccache on PATH, the TFLM objects these share
    are compiled once."""
    args = ["-DFW_WERROR=ON", "-DFW_ENGINE=tflm", f"-DTFLM_SOURCE_DIR={Path(source_dir).resolve()}"]
    out, extra, env = build_dir(tflm=True), [], None
    if (arch, kernels) != ("native", "reference"):
        args += [f"-DFW_ARCH={arch}", f"-DFW_KERNELS={kernels}"]
        if esp_nn_dir is not None:
            args.append(f"-DESP_NN_SOURCE_DIR={Path(esp_nn_dir).resolve()}")
        out = out.with_name(f"{out.name}-{arch}-{kernels}")
        if shutil.which("ccache"):
            args += ["-DCMAKE_CXX_COMPILER_LAUNCHER=ccache", "-DCMAKE_C_COMPILER_LAUNCHER=ccache"]
            env = {**os.environ, "CCACHE_NOHASHDIR": "1"}  # the same object in every build directory
    if ops_file is not None:  # another firmware: a build directory per list (by content), kept for the next run
        ops = Path(ops_file).resolve()
        args.append(f"-DFW_OPS_FILE={ops}")
        out = out.with_name(f"{out.name}-{hashlib.sha256(ops.read_bytes()).hexdigest()[:12]}")
        extra.append(ops)
    return _ensure_built(out / "fw_host", args, env, globs=SOURCE_GLOBS + TFLM_SOURCE_GLOBS, extra_sources=extra)


def ensure_fw_fuzz() -> Path:
    """Path of build/fw-fuzz/fw_fuzz, the libFuzzer target (clang++ required)."""
    clang = shutil.which("clang++")
    if clang is None:
        raise FwHostBuildError("clang++ not found (Debian: apt-get install -y clang libclang-rt-14-dev)")
    env = {**os.environ, "CXX": clang}
    return _ensure_built(build_dir(fuzz=True) / "fw_fuzz", ["-DFW_FUZZ=ON"], env)
