"""The simulator speaks the protocol on a real pseudo-terminal, and its faults look as documented."""

from __future__ import annotations

import termios
import time
from collections.abc import Iterator

import pytest
import serial

from drivers.idcard.cards import card_from_read
from drivers.idcard.codec import BadChecksum, Command, FrameDecoder, Reply, Status, StrayBytes, encode
from drivers.idcard.deck import synthetic_deck
from drivers.idcard.reader import PortLost, ReaderLink
from drivers.idcard.simulator import Fault, IdCardSimulator

H = bytes.fromhex
CARD = synthetic_deck()[1]


@pytest.fixture
def port(sim: IdCardSimulator) -> Iterator[serial.Serial]:
    with serial.Serial(sim.path, 115200, timeout=0.05) as opened:
        yield opened


def ask(port: serial.Serial, frame: bytes, wait: float = 0.5) -> bytes:
    """Raw bytes answered to `frame` (until a complete frame arrived or `wait` passed)."""
    port.reset_input_buffer()
    port.write(frame)
    got = b""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        got += port.read(port.in_waiting or 1)
        decoder = FrameDecoder(Reply)
        decoder.feed(got)
        if any(isinstance(e, Reply | BadChecksum) for e in decoder.events()):
            break
    return got


def test_published_frames_on_the_wire(sim: IdCardSimulator, port: serial.Serial) -> None:
    assert ask(port, encode(Command.RESET)) == H("AA AA AA 96 69 00 04 00 00 90 94")
    assert ask(port, encode(Command.FIND)) == H("AA AA AA 96 69 00 04 00 00 80 84")
    sim.present(CARD)
    assert ask(port, encode(Command.FIND)) == H("AA AA AA 96 69 00 08 00 00 9F 00 00 00 00 97")
    assert ask(port, encode(Command.SELECT)) == H("AA AA AA 96 69 00 0C 00 00 90 00 00 00 00 00 00 00 00 9C")
    read = ask(port, encode(Command.READ))
    assert len(read) == 1295 and card_from_read(read[10:-1], False) == CARD.model_copy(
        update={"fingerprints": b""})
    assert ask(port, encode(Command.FIND)) == H("AA AA AA 96 69 00 04 00 00 80 84")  # still on, already read
    sim.remove()
    sim.present(CARD)
    assert ask(port, encode(Command.FIND))[9] == Status.CARD_FOUND  # presented again


def test_read_needs_a_select_and_a_card(sim: IdCardSimulator, port: serial.Serial) -> None:
    assert ask(port, encode(Command.READ)) == H("AA AA AA 96 69 00 04 00 00 41 45")
    assert ask(port, encode(Command.SELECT))[9] == Status.SELECT_FAILED
    assert ask(port, encode(Command.READ_NEWEST_ADDRESS))[9] == Status.READ_FAILED


def test_the_module_answers_what_it_cannot_do(sim: IdCardSimulator, port: serial.Serial) -> None:
    assert ask(port, H("AA AA AA 96 69 00 03 77 01 75"))[9] == Status.BAD_COMMAND
    assert ask(port, H("AA AA AA 96 69 00 03 20 01 23"))[9] == Status.CHECKSUM_ERROR
    assert ask(port, H("AA AA AA 96 69 00 01 20"))[9] == Status.LENGTH_ERROR
    assert ask(port, encode(Command.MODULE_ID))[9] == Status.OK
    sim.present(CARD)
    ask(port, encode(Command.SELECT))
    assert ask(port, encode(Command.READ_NEWEST_ADDRESS))[9] == Status.NO_CONTENT


def events_of(raw: bytes) -> list[object]:
    decoder = FrameDecoder(Reply)
    decoder.feed(raw)
    return list(decoder.events())


def test_each_fault_on_the_wire(sim: IdCardSimulator, port: serial.Serial) -> None:
    sim.present(CARD)
    sim.inject(Fault.NO_CARD)
    assert ask(port, encode(Command.FIND))[9] == Status.FIND_FAILED
    sim.inject(Fault.BAD_CHECKSUM)
    assert isinstance(events_of(ask(port, encode(Command.FIND)))[0], BadChecksum)
    sim.inject(Fault.STRAY_BYTES)
    assert [type(e) for e in events_of(ask(port, encode(Command.FIND)))] == [StrayBytes, Reply]
    sim.inject(Fault.SPLIT)
    assert events_of(ask(port, encode(Command.FIND)))[0] == Reply(0, 0, Status.CARD_FOUND, bytes(4))
    sim.inject(Fault.SILENT)
    assert ask(port, encode(Command.FIND), wait=0.2) == b""
    sim.inject(Fault.READ_FAILURE)
    ask(port, encode(Command.SELECT))
    assert ask(port, encode(Command.READ))[9] == Status.READ_FAILED
    assert sim.pending_faults == 0
    sim.silent = True
    assert ask(port, encode(Command.RESET), wait=0.2) == b""


def test_faults_wait_for_the_command_they_fit(sim: IdCardSimulator, port: serial.Serial) -> None:
    sim.inject(Fault.READ_FAILURE)
    sim.inject(Fault.SILENT, on=Command.SELECT)
    assert ask(port, encode(Command.FIND))[9] == Status.FIND_FAILED
    assert sim.pending_faults == 2
    with pytest.raises(ValueError):
        sim.inject(Fault.NO_CARD, on=Command.READ)


def test_unplug_breaks_the_open_port(sim: IdCardSimulator, port: serial.Serial) -> None:
    sim.unplug()
    # pyserial lets the OS's own errors through: termios.error, or OSError (EIO) from in_waiting
    with pytest.raises((OSError, termios.error)):
        for _ in range(3):
            ask(port, encode(Command.FIND))
    sim.plug()
    with serial.Serial(sim.path, 115200, timeout=0.05) as again:
        assert ask(again, encode(Command.RESET)) == H("AA AA AA 96 69 00 04 00 00 90 94")


def test_the_link_reports_a_vanished_port_as_port_lost(sim: IdCardSimulator, port: serial.Serial) -> None:
    link = ReaderLink(port)
    assert link.exchange(Command.RESET, 0.5).sw3 == Status.OK
    sim.unplug()
    with pytest.raises(PortLost):
        for _ in range(3):
            link.exchange(Command.FIND, 0.2)
