#!/usr/bin/env python3
"""Async frame sizes of a Swift release binary, largest first.

Every Swift async function has an "async function pointer" symbol (mangled name ending in `Tu`)
holding its expected context size: the bytes its caller allocates on the task for its frame.
A task keeps the slabs of its deepest chain of frames until it ends (for a Hummingbird
connection, until the connection closes), so these sizes are what a held call costs; see
bench/NOTES.md, "A held call costs".

    python3 bench/frames.py .build/release/baton [FILTER]

Needs pyelftools (pip install pyelftools), nm and `swift demangle`.
"""
import struct
import subprocess
import sys

from elftools.elf.elffile import ELFFile


def main():
    path = sys.argv[1]
    pattern = sys.argv[2] if len(sys.argv) > 2 else ""
    with open(path, "rb") as file:
        elf = ELFFile(file)
        sections = [s for s in elf.iter_sections() if s["sh_addr"] and s["sh_type"] != "SHT_NOBITS"]

        def read(address, count):
            for section in sections:
                if section["sh_addr"] <= address < section["sh_addr"] + section["sh_size"]:
                    file.seek(section["sh_offset"] + address - section["sh_addr"])
                    return file.read(count)
            return None

        symbols = subprocess.run(["nm", "--defined-only", path], capture_output=True, text=True, check=True).stdout
        rows = []
        for line in symbols.splitlines():
            parts = line.split()
            if len(parts) != 3 or not parts[2].endswith("Tu"):
                continue
            data = read(int(parts[0], 16), 8)
            if data:
                rows.append((struct.unpack("<iI", data)[1], parts[2]))
    names = subprocess.run(
        ["swift", "demangle", "--simplified"], input="\n".join(name for _, name in rows), capture_output=True, text=True, check=True
    ).stdout.splitlines()
    for (size, _), name in sorted(zip(rows, names), key=lambda row: -row[0][0]):
        name = name.removeprefix("async function pointer to ")
        if pattern in name:
            print(f"{size:7d}  {name}")


if __name__ == "__main__":
    main()
