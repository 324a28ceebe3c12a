#!/usr/bin/env python3
"""owner_changes.py DB [RUN]: the owner changes of assign run RUN (default:
the latest that changed anything) as stored in the owner_changes table
(core/store/store.c, migration 8), one line per account:

    ACCOUNT FROM FROM_TEAM TO TO_TEAM HANDOFF

with '-' for none and HANDOFF true or false. A decoder of its own, written
from the migration's description, so that the tests check the stored
format and not only kizuna's reading of it. Exits 1 naming what is wrong
when the row does not hold what its n says."""
import sqlite3
import struct
import sys


def strings(blob, what):
    parts = bytes(blob).split(b"\0")
    if parts[-1] != b"":
        sys.exit(f"owner_changes: {what} does not end with a NUL byte")
    return [p.decode() for p in parts[:-1]]


def main():
    db = sqlite3.connect(sys.argv[1])
    where = f"WHERE run = {int(sys.argv[2])}" if len(sys.argv) > 2 else "ORDER BY run DESC LIMIT 1"
    row = db.execute("SELECT n, ids, owners, from_codes, to_codes, handoffs FROM owner_changes " + where).fetchone()
    if row is None:
        sys.exit("owner_changes: no such row")
    n, ids, owners, from_codes, to_codes, handoffs = row
    ids = strings(ids, "ids")
    names = strings(owners, "owners")
    if len(ids) != n or ids != sorted(ids, key=lambda s: s.encode()):
        sys.exit(f"owner_changes: {len(ids)} ids for n = {n}, or not in byte order")
    if len(names) % 2 or len(from_codes) != 4 * n or len(to_codes) != 4 * n or len(handoffs) != n:
        sys.exit("owner_changes: columns of the wrong length")
    pairs = [(names[k], names[k + 1] or "-") for k in range(0, len(names), 2)]

    def owner(code):
        if code == -1:
            return ("-", "-")
        if not 0 <= code < len(pairs):
            sys.exit(f"owner_changes: code {code} names no owner ({len(pairs)} pairs)")
        return pairs[code]

    froms = struct.unpack(f"<{n}i", from_codes)
    tos = struct.unpack(f"<{n}i", to_codes)
    for k in range(n):
        f, t = owner(froms[k]), owner(tos[k])
        print(ids[k], f[0], f[1], t[0], t[1], "true" if handoffs[k] else "false")


main()
