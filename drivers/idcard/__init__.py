"""Resident ID-card readers speaking the GA/T 467 "SAM" serial protocol.

Pure pieces: `codec` (frames, commands, status), `replies` (what a reply's data holds), `cards` (the
256-byte text block of the four card types, the `IdCard` model), `numbers` and `codes` (check
characters, sex and nation tables), `photo` (the WLT decoder plug-in point; none ships). Around them:
`link` and `reader` (pyserial transport and poll loop, `IdCardReader`), `health`, `events`
(`CardPresented`), `simulator` and `deck` (a reader on a pseudo-terminal with synthetic cards), `cli`.
"""
