"""Where a figure came from: the sources of a result record, one row each.

Every module that tells sources apart names them with these constants and reads what a
source is (emulated, a board, how reports introduce it, which one a recommendation trusts)
from SOURCE_TABLE; tests_host/test_record_vocabulary.py refuses the quoted words elsewhere.
How one run obtained its figures (which virtual-board engine, say) is finer than the source:
targets.measure.shared's Conditions, whose labels refine these.
"""
from __future__ import annotations

from dataclasses import dataclass

HOST_TFLM = "host-tflm"
VIRTUAL = "virtual"
HIL = "hil"

#: The pytest markers that select the two gates. The hil marker is spelled like the hil source
#: but names a selection of tests: under --virtual they produce virtual records.
HOST_MARKER = "host"
HIL_MARKER = "hil"


@dataclass(frozen=True)
class Source:
    name: str
    emulated: bool  # True: no chip measured these figures; reports say so wherever they appear
    board: bool  # figures come from a board over the serial protocol, under the settings of its banner
    label: str  # how summary.md introduces its figures when the run's conditions say nothing finer
    preference: int  # a variant measured by several sources: the recommendation trusts the lowest


#: In the order reports show them.
SOURCE_TABLE = (
    Source(HOST_TFLM, emulated=True, board=False, label="host TFLM; latency estimated, not measured",
           preference=2),
    Source(VIRTUAL, emulated=True, board=True, label="virtual board (emulated); latency estimated, not measured",
           preference=1),
    Source(HIL, emulated=False, board=True, label="measured on the chip", preference=0),
)
SOURCE_BY_NAME = {s.name: s for s in SOURCE_TABLE}
SOURCES = tuple(s.name for s in SOURCE_TABLE)
EMULATED_SOURCES = tuple(s.name for s in SOURCE_TABLE if s.emulated)
BOARD_SOURCES = tuple(s.name for s in SOURCE_TABLE if s.board)
SOURCE_PREFERENCE = tuple(s.name for s in sorted(SOURCE_TABLE, key=lambda s: s.preference))
