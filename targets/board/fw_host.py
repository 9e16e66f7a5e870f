"""Build and run fw_host: the firmware's portable core (firmware/core) on stdin/stdout with
a deterministic fake engine, so the host client is tested against the real C++ core.

`ensure_fw_host()` builds with cmake when the binary is missing or older than its sources
(a file lock keeps pytest-xdist workers from building at once); `FwHostProcess` runs it.
`ensure_fw_tflm(dir)` builds the same binary on main/tflm_engine.cc and TFLite Micro from
`dir` (build/fw-tflm/fw_host): the firmware's real engine on the host.
`fake_model` / `fake_output` are the Python twin of firmware/host/fake_engine.h.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from filelock import FileLock

from targets.board.links import SubprocessLink
from targets.board.protocol import ProtocolClient
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


@cache
def sanitizer_runtime_missing() -> str | None:
    """None if the C++ compiler can link an ASan+UBSan program, else the reason."""
    cxx = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++")
    if cxx is None:
        return "no C++ compiler found"
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "probe.cc"
        src.write_text("int main() { return 0; }\n")
        proc = subprocess.run([cxx, "-fsanitize=address,undefined", str(src), "-o",
                               str(Path(tmp) / "probe")], capture_output=True, text=True)
        if proc.returncode != 0:
            return f"{cxx} cannot link -fsanitize=address,undefined: {proc.stderr.strip()[-300:]}"
        run = subprocess.run([str(Path(tmp) / "probe")], capture_output=True, text=True)
        if run.returncode != 0:
            return f"an ASan binary does not run here: {run.stderr.strip()[-300:]}"
    return None


@cache
def libfuzzer_missing() -> str | None:
    """None if clang++ can build a libFuzzer target, else the reason."""
    clang = shutil.which("clang++")
    if clang is None:
        return "clang++ not installed (Debian: apt-get install -y clang libclang-rt-14-dev)"
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "f.cc"
        src.write_text('#include <cstdint>\n#include <cstddef>\nextern "C" int '
                       "LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }\n")
        proc = subprocess.run([clang, "-fsanitize=fuzzer", str(src), "-o", str(Path(tmp) / "f")],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            return f"clang++ cannot link -fsanitize=fuzzer: {proc.stderr.strip()[-300:]}"
    return None


# ------------------------------------------------------------------ running it
@dataclass
class FwHostOptions:
    """fw_host's command line (see firmware/host/main.cc)."""

    arena: int | None = None
    max_model: int | None = None
    line_max: int | None = None
    chunk_max: int | None = None
    target: str | None = None
    seed: int | None = None
    embed: Path | None = None
    reset_after_lines: int | None = None
    panic_after_lines: int | None = None
    noise: bool = False

    def argv(self) -> list[str]:
        out: list[str] = []
        for name in ("arena", "max_model", "line_max", "chunk_max", "target", "seed", "embed",
                     "reset_after_lines", "panic_after_lines"):
            value = getattr(self, name)
            if value is not None:
                out += ["--" + name.replace("_", "-"), str(value)]
        if self.noise:
            out.append("--noise")
        return out


class FwHostProcess:
    """A running fw_host with a ProtocolClient on its pipes; waits for the boot banner.

        with FwHostProcess(FwHostOptions(arena=4096)) as fw:
            fw.client.upload(fake_model(...))
    """

    def __init__(self, options: FwHostOptions | None = None, *, sanitize: bool = False,
                 timeout_scale: float = 1.0, log: list[str] | None = None,
                 banner_timeout: float = 10.0, binary: Path | None = None) -> None:
        """`binary`: another build of fw_host (e.g. ensure_fw_tflm's); default the fake engine's."""
        self.options = options or FwHostOptions()
        self.binary = binary or ensure_fw_host(sanitize=sanitize)
        self.log: list[str] = log if log is not None else []
        self.link = SubprocessLink([str(self.binary), *self.options.argv()],
                                   stderr=subprocess.PIPE if sanitize else subprocess.DEVNULL)
        self.client = ProtocolClient(self.link, log=self.log, timeout_scale=timeout_scale)
        try:
            self.banner = self.client.wait_banner(banner_timeout)
        except BaseException:
            self.close()
            raise

    def close(self) -> int | None:
        """Ends the process (stdin EOF); its exit code (sanitizer reports make it non-zero)."""
        return self.link.close()

    def stderr_text(self) -> str:
        """The process's stderr after close() (sanitizer builds only)."""
        err = self.link.proc.stderr
        return err.read().decode("utf-8", "replace") if err and not err.closed else ""

    def __enter__(self) -> FwHostProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ------------------------------------------------------------------ the fake model format
FAKE_MAGIC = b"TMHF"
FAKE_INT8, FAKE_FLOAT32 = 0, 1
FAKE_FLAG_INVOKE_FAILS = 1


def fake_model(*, dtype: int = FAKE_INT8, n_in: int = 8, n_out: int = 4, arena: int = 1024,
               ops: Sequence[str] = ("CONV_2D", "FULLY_CONNECTED", "SOFTMAX"), flags: int = 0,
               pad_to: int = 0) -> bytes:
    """A model the fake engine accepts (layout in firmware/host/fake_engine.h), padded
    with zero bytes to `pad_to` bytes if given."""
    body = FAKE_MAGIC + struct.pack("<BBBBHHI", 1, dtype, flags, 0, n_in, n_out, arena)
    body += ",".join(ops).encode("ascii") + b"\0"
    return body + b"\0" * max(0, pad_to - len(body))


def fake_output(model: bytes, data: bytes) -> bytes:
    """What the fake engine outputs for `data` (its twin, for exact comparisons)."""
    _, dtype, _, _, n_in, n_out, _ = struct.unpack_from("<BBBBHHI", model, 4)
    if dtype == FAKE_FLOAT32:
        import numpy as np

        x = np.frombuffer(data, dtype="<f4")
        j = np.arange(n_out, dtype=np.float32)
        return (np.float32(2.0) * x[np.arange(n_out) % n_in] + j).astype("<f4").tobytes()
    values = struct.unpack(f"{n_in}b", data)
    return bytes((3 * values[j % n_in] + j) & 0xFF for j in range(n_out))
