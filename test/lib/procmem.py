#!/usr/bin/env python3
"""Counts the copies of a string in a live process's memory.

    procmem.py PID STRING

Reads every readable mapping listed in /proc/PID/maps through /proc/PID/mem
(root: CAP_SYS_PTRACE reads non-dumpable processes too) and prints how many
times STRING occurs. Mappings that vanish or cannot be read (vvar, guard
pages) are skipped, and so are anonymous mappings of BIG bytes or more: a
sanitizer's shadow memory (terabytes reserved, holding no program data).
The count is what could be read."""
import re
import sys

CHUNK = 1 << 20
BIG = 1 << 36


def count(pid, needle):
    found = 0
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            m = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+)", line)
            if not m or m.group(3)[0] != "r" or "[vvar" in line or "[vsyscall]" in line:
                continue
            start, end = int(m.group(1), 16), int(m.group(2), 16)
            if end - start >= BIG and len(line.split()) < 6:
                continue
            tail = b""
            pos = start
            while pos < end:
                try:
                    mem.seek(pos)
                    data = mem.read(min(CHUNK, end - pos))
                except OSError:
                    break
                if not data:
                    break
                buf = tail + data
                found += buf.count(needle)
                # a copy across two chunks is found with the next one; the
                # tail is too short to hold a whole copy counted twice
                tail = buf[-(len(needle) - 1):] if len(needle) > 1 else b""
                pos += len(data)
    return found


def main(argv):
    if len(argv) != 2:
        sys.exit(__doc__)
    print(count(int(argv[0]), argv[1].encode()))


main(sys.argv[1:])
