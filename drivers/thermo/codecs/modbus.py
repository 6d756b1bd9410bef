"""Modbus RTU temperature transmitters (RS-485, usually 9600 8N1): one holding register per reading.

Theory of operation: each poll is a "read holding registers" request (function 03) for one register
at the configured slave address; the reply is `addr 03 02 hi lo crc crc`, or an exception reply
`addr 83 code crc crc`. Framing, the CRC-16/MODBUS and the PDU classes are pymodbus's (its RTU framer
and PDU decoder: pure objects, no client or transport). pymodbus's own frame hunt discards the whole
buffer on a bad CRC, so the hunt is ours: a frame starts at our slave address followed by 03 with a
byte count of 2, or by 83; anything else is line noise, skipped a byte at a time. A candidate with a
bad CRC is rejected whole. The register is read as signed or unsigned and multiplied by the scale.
These transmitters report no ambient temperature.

Written from the register tables of common RS-485 infrared/body-temperature transmitters (register 0,
signed, 0.1 °C) and the Modbus over serial line specification, as summarised in docs/protocols.md §2.3
(request `01 03 00 00 00 01 84 0A`, 36.5 °C reply `01 03 02 01 6D 78 39`). Register maps vary by
vendor: address, register, signedness and scale are options.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pymodbus.framer import FramerRTU
from pymodbus.pdu import DecodePDU
from pymodbus.pdu.register_message import ReadHoldingRegistersRequest, ReadHoldingRegistersResponse

from drivers.thermo.codecs.base import GARBAGE, NEED_MORE, Codec, Decoded, Outcome, Rejected

READ_HOLDING = ReadHoldingRegistersRequest.function_code
EXCEPTION = READ_HOLDING | 0x80


class ModbusOptions(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    address: int = Field(default=1, ge=1, le=247)  # the transmitter's slave address
    holding_register: int = Field(default=0, ge=0, le=0xFFFF)  # where the temperature is
    signed: bool = True
    scale: float = Field(default=0.1, gt=0)  # °C per count


def _framer() -> FramerRTU:
    return FramerRTU(DecodePDU(is_server=False))


def encode_reading(options: ModbusOptions, object_c: float) -> bytes:
    """The transmitter's reply for one register (device side; for the simulator and tests)."""
    count = round(object_c / options.scale)
    raw = count & 0xFFFF if options.signed else count
    return _framer().buildFrame(ReadHoldingRegistersResponse(registers=[raw], dev_id=options.address))


class ModbusCodec(Codec):
    protocol = "modbus"
    options: ModbusOptions

    def __init__(self, options: ModbusOptions) -> None:
        super().__init__(options)
        self._framer = _framer()
        self._decoder = DecodePDU(is_server=False)
        self._request = self._framer.buildFrame(
            ReadHoldingRegistersRequest(address=options.holding_register, count=1, dev_id=options.address)
        )

    def poll_request(self) -> bytes:
        return self._request

    def _step(self, buf: bytes, pos: int) -> tuple[int, Outcome]:
        if buf[pos] != self.options.address:
            return 1, GARBAGE
        if len(buf) - pos < 3:
            return NEED_MORE
        function, count = buf[pos + 1], buf[pos + 2]
        if not (function == EXCEPTION or (function == READ_HOLDING and count == 2)):
            return 1, GARBAGE
        pdu_class = self._decoder.lookupPduClass(buf[pos:])
        size = pdu_class.calculateRtuFrameSize(buf[pos:]) if pdu_class else 0
        if len(buf) - pos < size:
            return NEED_MORE
        frame = buf[pos : pos + size]
        if not FramerRTU.check_CRC(frame[:-2], int.from_bytes(frame[-2:], "big")):
            return size, Rejected("CRC mismatch")
        pdu = self._decoder.decode(frame[1:-2])
        if pdu is None:
            return size, Rejected("undecodable PDU")
        if pdu.isError():
            return size, Rejected(f"device exception {pdu.exception_code}")
        return size, Decoded(object_c=self._celsius(pdu.registers[0]), ambient_c=None)

    def _celsius(self, register: int) -> float:
        if self.options.signed and register >= 0x8000:
            register -= 0x10000
        return round(register * self.options.scale, 6)
