"""What goes wrong talking to a board, as exceptions: the protocol's (a refused command, a
restart, a panic, silence) and the Board's (a refused model, a hang, a vanished port)."""
from __future__ import annotations

import json
from typing import Any


class ProtocolError(Exception):
    """The device answered ok=false. `code` is one of the vocabulary's ERROR_CODES."""

    def __init__(self, reply: dict[str, Any], command: str = "") -> None:
        self.reply = reply
        self.code = str(reply.get("code", "E_?"))
        self.msg = str(reply.get("msg", ""))
        self.command = command
        super().__init__(f"{self.code}: {self.msg} (reply to {command or reply.get('cmd', '?')!r}: "
                         f"{json.dumps(reply)[:300]})")


class BoardResetError(Exception):
    """A boot banner with a new nonce arrived mid-command: the board restarted and lost
    any uploaded model. `banner` is the new banner (None if a panic was seen and no
    banner followed in time)."""

    def __init__(self, banner: dict[str, Any] | None, message: str = "") -> None:
        self.banner = banner
        nonce = banner.get("nonce") if banner else None
        super().__init__(message or f"board restarted (new boot banner, nonce {nonce})")


class BoardPanicError(BoardResetError):
    """A panic or reset marker appeared in the board's log during a command. A reset
    error too: whoever recovers from resets recovers from this."""

    def __init__(self, marker: str, last_lines: list[str], banner: dict[str, Any] | None) -> None:
        self.marker = marker
        self.last_lines = list(last_lines)
        shown = "\n".join("  | " + ln for ln in self.last_lines[-20:])
        after = (f"rebooted (nonce {banner.get('nonce')})" if banner
                 else "no boot banner followed")
        super().__init__(banner, f"board log shows {marker!r}; {after}. Last lines:\n{shown}")


class InputTooLarge(ValueError):
    """An input this board cannot take, found before anything was sent. The message names
    the limit and the firmware's Kconfig option that raises it."""


class BoardTimeout(Exception):
    """No reply in time. `last_lines` are the last lines the board printed."""

    def __init__(self, what: str, timeout: float, last_lines: list[str]) -> None:
        self.what = what
        self.timeout = timeout
        self.last_lines = list(last_lines)
        shown = "\n".join("  | " + ln for ln in self.last_lines[-20:]) or "  (nothing)"
        super().__init__(f"no reply to {what!r} within {timeout:.1f} s. Last lines seen:\n{shown}")


class BoardError(Exception):
    """The board could not do what was asked; the message says what, where, and why."""


class ModelRejected(BoardError):
    """The board refused this model (too large, bad flatbuffer, missing op, arena too small)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class BoardUnresponsive(BoardError):
    """The board hung again after a hardware reset."""


class PortGone(BoardError):
    """The serial port disappeared (board unplugged, USB reset)."""
