"""`time` with more runs than the heap holds answers E_ALLOC and the board keeps its model.

On ESP-IDF with exceptions off a failed `new`, `new (std::nothrow)` included, aborts: the
board reboots and loses the model (core/heap.h says why). fw_host's --alloc-limit gives the
core a heap that serves at most N bytes at once and makes `new` abort past it, as on the chip;
the core allocates with malloc (heap_alloc) and must answer instead.
"""
from __future__ import annotations

import signal
import subprocess

import numpy as np
import pytest

from targets.board.errors import ProtocolError
from targets.board.fw_host import ensure_fw_host
from tests_host.fw_host_process import FAKE_FLOAT32, FwHostOptions, FwHostProcess, fake_model, fake_output

# `time` holds 8 bytes per run (two uint32_t arrays): 10000 runs ask 40000 B per array.
LIMIT = 20_000


def test_time_with_more_runs_than_the_heap_holds_is_e_alloc_and_the_model_stays():
    with FwHostProcess(FwHostOptions(alloc_limit=LIMIT)) as fw:
        c = fw.client
        c.upload(fake_model())
        nonce = fw.banner["nonce"]
        with pytest.raises(ProtocolError) as e:
            c.time_invokes(10_000, 0, timeout=10.0)
        assert e.value.code == "E_ALLOC" and "fewer runs" in e.value.reply["msg"]
        # no reboot: the same boot answers, the model is still there and can be timed
        banner = c.identify()
        assert banner["nonce"] == nonce and banner["model_loaded"] is True
        assert c.time_invokes(LIMIT // 4 - 1, 0, timeout=30.0)["runs"] == LIMIT // 4 - 1


def test_an_output_whose_reply_outgrows_the_heap_is_e_alloc_and_the_model_stays():
    """An output larger than a host line makes the invoke reply outgrow the buffer reserved at
    boot (2 x 4096 + 512 B); the core asks malloc for the room first. 16000 B of float32 output
    are 21336 base64 characters, a reply above LIMIT: E_ALLOC, the same boot answers with its
    model. 12000 B fit: the buffer grows and the reply carries the output whole."""
    x = np.arange(8, dtype="<f4").tobytes()
    too_big = fake_model(dtype=FAKE_FLOAT32, n_out=4000)  # the output itself (16000 B) is under LIMIT
    fits = fake_model(dtype=FAKE_FLOAT32, n_out=3000)
    with FwHostProcess(FwHostOptions(alloc_limit=LIMIT)) as fw:
        c = fw.client
        c.upload(too_big)
        with pytest.raises(ProtocolError) as e:
            c.infer(0, x)
        assert e.value.code == "E_ALLOC" and e.value.reply["bytes"] > LIMIT, e.value.reply
        banner = c.identify()
        assert banner["nonce"] == fw.banner["nonce"] and banner["model_loaded"] is True
        c.upload(fits)
        assert c.infer(1, x)["output_bytes"] == fake_output(fits, x)


def test_the_limit_makes_new_abort_as_on_esp_idf():
    """The harness itself: past the limit C++ `new` ends the process, as on the chip, so the
    test above would catch a `new` on the `time` path. Here the core's reply buffer, reserved
    with `new` at boot (2 x line_max + 512 B), is above the limit."""
    proc = subprocess.run([str(ensure_fw_host()), "--alloc-limit", str(LIMIT), "--line-max", "16384"],
                          input=b"", capture_output=True, timeout=30)
    assert proc.returncode == -signal.SIGABRT, proc
    assert b"abort()" in proc.stderr
