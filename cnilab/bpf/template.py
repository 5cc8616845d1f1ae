"""Write CONFIG values into a compiled template object.

A template object is compiled from headers whose CONFIG variables (DECLARE_CONFIG,
bpf/lib/common.h) are all zero; each variable is a symbol ``__config_<name>`` in the
section ``.rodata.config``. ``patch(data, {"node_ipv4": b"\\xac\\x12\\x00\\x03", ...})``
returns a copy of the object whose variables hold the given bytes: the object the same
headers with those values would compile to (tests/bpf/test_bpf_template.py compares them).
Every variable of the object must be given, with exactly its size, so a value can neither
be forgotten nor spill into its neighbour.

Only what this needs of ELF64 (little-endian, as clang -target bpf writes on x86_64 and
arm64): the section headers, the symbol table and its string table.
"""

from __future__ import annotations

import struct

SECTION = ".rodata.config"
PREFIX = "__config_"

_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
_SHDR = struct.Struct("<IIQQQQIIQQ")
_SYM = struct.Struct("<IBBHQQ")
SHT_SYMTAB = 2


class TemplateError(ValueError):
    """The object is not a template these values fit."""


def _cstr(table: bytes, offset: int) -> str:
    return table[offset : table.index(b"\0", offset)].decode()


def config_symbols(data: bytes) -> dict[str, tuple[int, int]]:
    """``{name: (file offset, size)}`` of the object's CONFIG variables."""
    ident, _, _, _, _, _, shoff, _, _, _, _, shentsize, shnum, shstrndx = _EHDR.unpack_from(data)
    if ident[:4] != b"\x7fELF" or ident[4] != 2 or ident[5] != 1:
        raise TemplateError("not a little-endian ELF64 object")
    sections = [_SHDR.unpack_from(data, shoff + i * shentsize) for i in range(shnum)]
    names = data[sections[shstrndx][4] : sections[shstrndx][4] + sections[shstrndx][5]]
    by_index = {i: _cstr(names, s[0]) for i, s in enumerate(sections)}
    config = [i for i, n in by_index.items() if n == SECTION]
    out: dict[str, tuple[int, int]] = {}
    if not config:
        return out
    sec_offset, sec_size = sections[config[0]][4], sections[config[0]][5]
    for s in sections:
        if s[1] != SHT_SYMTAB:
            continue
        strtab = sections[s[6]]
        strings = data[strtab[4] : strtab[4] + strtab[5]]
        for k in range(s[5] // s[9]):
            st_name, _, _, st_shndx, st_value, st_size = _SYM.unpack_from(data, s[4] + k * s[9])
            name = _cstr(strings, st_name)
            if st_shndx == config[0] and name.startswith(PREFIX):
                if st_value + st_size > sec_size:
                    raise TemplateError(f"{name} lies outside {SECTION}")
                out[name.removeprefix(PREFIX)] = (sec_offset + st_value, st_size)
    return out


def patch(data: bytes, values: dict[str, bytes]) -> bytes:
    """A copy of the template object ``data`` with each CONFIG variable set to ``values[name]``."""
    symbols = config_symbols(data)
    missing = sorted(set(symbols) - set(values))
    unknown = sorted(set(values) - set(symbols))
    if missing or unknown:
        raise TemplateError(f"CONFIG values: missing {missing}, not in the object {unknown}")
    out = bytearray(data)
    for name, (offset, size) in symbols.items():
        raw = values[name]
        if len(raw) != size:
            raise TemplateError(f"CONFIG {name}: {len(raw)} bytes given, the object holds {size}")
        if any(out[offset : offset + size]):
            raise TemplateError(f"CONFIG {name} is not zero: not a template object")
        out[offset : offset + size] = raw
    return bytes(out)
