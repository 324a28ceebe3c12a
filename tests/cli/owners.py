#!/usr/bin/env python3
"""owners.py: the owners as stored, read by a decoder of its own, written
from the migrations' description (core/store/store.c, migrations 8 and
9), so that the tests check the stored format and not only kizuna's
reading of it. Exits 1 naming what is wrong when a row does not hold what
its n says.

owners.py changes DB [RUN]: the owner changes of assign run RUN (default:
the latest that changed anything), from owner_changes, one line per
account: ACCOUNT FROM FROM_TEAM TO TO_TEAM HANDOFF, with '-' for none and
HANDOFF true or false.

owners.py query DB SQL: runs SQL on DB with the current owners (table
current_owners) decoded into the temporary table
owners (account_id, owner, team, since_us, unassigned), printing rows as
the sqlite3 shell does ('|' between columns, NULL as nothing).

owners.py set DB ID=OWNER[@TEAM]...: stores these owners as the current
ones (since unknown, no reasons), as `kizuna assign` would."""
import sqlite3
import struct
import sys


def strings(blob, what):
    parts = bytes(blob).split(b"\0")
    if parts[-1] != b"":
        sys.exit(f"{what} does not end with a NUL byte")
    return [p.decode() for p in parts[:-1]]


def decode(row, what, formats):
    """(ids, pairs, columns) of a row (n, ids, owners, column...): each
    column one struct format letter per account ('i' int32, 'q' int64,
    'B' byte), little-endian."""
    n, ids, owners, *columns = row
    ids = strings(ids, what + ": ids")
    if len(ids) != n or any(a.encode() >= b.encode() for a, b in zip(ids, ids[1:])):
        sys.exit(f"{what}: {len(ids)} ids for n = {n}, or not in strict byte order")
    names = strings(owners, what + ": owners")
    if len(names) % 2:
        sys.exit(f"{what}: the owners are not pairs")
    pairs = [(names[k], names[k + 1] or None) for k in range(0, len(names), 2)]
    if any(len(c) != struct.calcsize(f"<{n}{f}") for c, f in zip(columns, formats)):
        sys.exit(f"{what}: columns of the wrong length")
    return ids, pairs, [struct.unpack(f"<{n}{f}", c) for c, f in zip(columns, formats)]


def owner(pairs, code, what):
    if code == -1:
        return (None, None)
    if not 0 <= code < len(pairs):
        sys.exit(f"{what}: code {code} names no owner ({len(pairs)} pairs)")
    return pairs[code]


def changes(db, run):
    where = f"WHERE run = {int(run)}" if run is not None else "ORDER BY run DESC LIMIT 1"
    row = db.execute("SELECT n, ids, owners, from_codes, to_codes, handoffs FROM owner_changes " + where).fetchone()
    if row is None:
        sys.exit("owner_changes: no such row")
    ids, pairs, (froms, tos, handoffs) = decode(row, "owner_changes", "iiB")
    for k, account in enumerate(ids):
        f = owner(pairs, froms[k], "owner_changes")
        t = owner(pairs, tos[k], "owner_changes")
        print(account, f[0] or "-", f[1] or "-", t[0] or "-", t[1] or "-", "true" if handoffs[k] else "false")


def query(db, sql):
    db.execute("CREATE TEMP TABLE owners (account_id TEXT PRIMARY KEY, owner TEXT, team TEXT,"
               " since_us INTEGER, unassigned INTEGER)")
    row = db.execute("SELECT n, ids, owners, codes, since, reasons FROM current_owners WHERE id = 1").fetchone()
    if row is not None:
        ids, pairs, (codes, since, reasons) = decode(row, "current_owners", "iqB")
        for k, account in enumerate(ids):
            o, t = owner(pairs, codes[k], "current_owners")
            if reasons[k] > 3 or (o is not None and reasons[k]):
                sys.exit(f"current_owners: reason {reasons[k]} of {account}")
            db.execute("INSERT INTO owners VALUES (?, ?, ?, ?, ?)", (account, o, t, since[k] or None, reasons[k]))
    for r in db.execute(sql):
        print("|".join("" if v is None else str(v) for v in r))


def store(db, given):
    owned = sorted((g.split("=", 1) for g in given), key=lambda p: p[0].encode())
    pairs, codes = [], []
    for _, who in owned:
        pair = tuple(who.split("@", 1)) if "@" in who else (who, "")
        if pair not in pairs:
            pairs.append(pair)
        codes.append(pairs.index(pair))
    n = len(owned)
    db.execute("INSERT OR REPLACE INTO current_owners (id, run, n, ids, owners, codes, since, reasons)"
               " VALUES (1, NULL, ?, ?, ?, ?, ?, ?)",
               (n, b"".join(i.encode() + b"\0" for i, _ in owned),
                b"".join(o.encode() + b"\0" + t.encode() + b"\0" for o, t in pairs),
                struct.pack(f"<{n}i", *codes), struct.pack(f"<{n}q", *([0] * n)), bytes(n)))
    db.commit()


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "changes":
        changes(sqlite3.connect(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else None)
    elif len(sys.argv) == 4 and sys.argv[1] == "query":
        query(sqlite3.connect(sys.argv[2]), sys.argv[3])
    elif len(sys.argv) >= 3 and sys.argv[1] == "set":
        store(sqlite3.connect(sys.argv[2]), sys.argv[3:])
    else:
        sys.exit("usage: owners.py changes DB [RUN] | owners.py query DB SQL | owners.py set DB ID=OWNER[@TEAM]...")


main()
