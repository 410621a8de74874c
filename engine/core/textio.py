"""Reading the files users hand over, and checking where outputs will go, before any work.

Text files arrive in whatever encoding the tool that wrote them chose: UTF-8 (with or without
a byte-order mark), UTF-16 or UTF-32 with a byte-order mark (Windows "Unicode" saves), or
Windows-1252 (Excel's "CSV" on Western Windows, which turns "Suárez" into the byte 0xE1).
``decode_text`` reads each of them and says so when the file was not UTF-8; anything else is
refused with a message naming the file, never decoded into replacement characters.
"""

from __future__ import annotations

import codecs
import json
import os
from pathlib import Path
from typing import Any

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


class InputFileError(ValueError):
    """A file cannot be read or written as asked; the message names the file and why."""


def decode_text(raw: bytes, what: str) -> tuple[str, str | None]:
    """(text, note): the bytes of a text file decoded, and a note when it was not UTF-8.

    Order: a byte-order mark decides (UTF-8, UTF-16, UTF-32); else strict UTF-8; else strict
    Windows-1252 (cp1252), noted. Bytes that are neither, or NUL bytes in the text (a binary
    file), raise InputFileError naming ``what``."""
    for bom, enc in _BOMS:
        if raw.startswith(bom):
            try:
                text = raw.decode(enc)
            except UnicodeDecodeError as exc:
                raise InputFileError(f"{what}: starts with a {enc.upper()} byte-order mark but is not valid {enc.upper()} "
                                     f"(byte {exc.start})") from None
            note = None if enc == "utf-8-sig" else f"{what}: read as {enc.upper()} (byte-order mark)"
            return _no_nul(text, what), note
    try:
        return _no_nul(raw.decode("utf-8"), what), None
    except UnicodeDecodeError as exc:
        utf8_error = exc
    try:
        text = raw.decode("cp1252")
    except UnicodeDecodeError:
        raise InputFileError(
            f"{what}: not a text file in UTF-8, UTF-16 or Windows-1252 (byte 0x{raw[utf8_error.start]:02x} at offset "
            f"{utf8_error.start} is not valid UTF-8); save it as UTF-8 CSV"
        ) from None
    return _no_nul(text, what), f"{what}: not valid UTF-8, read as Windows-1252 (cp1252); check accented names"


def _no_nul(text: str, what: str) -> str:
    if "\x00" in text:
        raise InputFileError(f"{what}: holds NUL bytes, so it is a binary file, not text (CSV or JSON)")
    return text


def read_bytes(path: str | Path, what: str | None = None) -> bytes:
    """A file's bytes; a clear error for a missing file, a directory or no permission."""
    p = Path(path)
    what = what or str(p)
    if not p.exists():
        raise InputFileError(f"{what}: file not found")
    if p.is_dir():
        raise InputFileError(f"{what}: is a directory, not a file")
    try:
        return p.read_bytes()
    except OSError as exc:
        raise InputFileError(f"{what}: cannot be read ({exc.strerror or exc})") from None


def read_text(path: str | Path, what: str | None = None) -> tuple[str, str | None]:
    """(text, note) of a text file: see ``decode_text``."""
    return decode_text(read_bytes(path, what), what or str(path))


def read_json(path: str | Path, what: str | None = None) -> Any:
    """A JSON file in any of the encodings ``decode_text`` reads; errors give line and column."""
    what = what or str(path)
    text, _ = read_text(path, what)
    return parse_json(text, what)


def parse_json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputFileError(f"{what}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None


def check_writable(path: str | Path, what: str) -> Path:
    """Refuse, before any work, an output path that cannot be written: a missing folder, a
    folder given as the file, or no permission. Returns the path."""
    p = Path(path)
    if p.is_dir():
        raise InputFileError(f"{what} {p}: is a directory; give a file name")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.exists():
        raise InputFileError(f"{what} {p}: the folder {parent} does not exist")
    if not parent.is_dir():
        raise InputFileError(f"{what} {p}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise InputFileError(f"{what} {p}: no permission to write there")
    return p
