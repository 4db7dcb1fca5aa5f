#!/usr/bin/env python3
"""Writes an rpm NDB Packages.db holding the given header blobs.

Debian's rpm has no ndb backend, so this follows the on-disk layout of rpm's
lib/backend/ndb/rpmpkg.c: a 32-byte header ('RpmP', version 0, generation,
slot page count, next package index) sharing the first 4096-byte slot page
with 16-byte slots ('Slot', pkgidx, blkoff, blkcnt); blobs in 16-byte blocks
after the slot pages, each 'BlbS' pkgidx timestamp len | blob | zero pad |
adler32 len 'BlbE'.

usage: ndb-write.py BLOBDIR OUT   (BLOBDIR holds one file per header number)
"""
import os
import struct
import sys
import zlib

PAGE, BLK = 4096, 16
TSTAMP = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))

blobdir, out = sys.argv[1], sys.argv[2]
blobs = [(int(n), open(os.path.join(blobdir, n), "rb").read())
         for n in sorted(os.listdir(blobdir), key=int)]
assert len(blobs) <= PAGE // 16 - 2

slots = []
data = bytearray()
blkoff = PAGE // BLK  # first block after the single slot page
for idx, blob in blobs:
    head = struct.pack("<4sIII", b"BlbS", idx, TSTAMP, len(blob))
    blkcnt = (16 + len(blob) + 12 + BLK - 1) // BLK
    pad = blkcnt * BLK - (16 + len(blob) + 12)
    body = head + blob + b"\0" * pad
    tail = struct.pack("<II4s", zlib.adler32(body), len(blob), b"BlbE")
    data += body + tail
    slots.append(struct.pack("<4sIII", b"Slot", idx, blkoff, blkcnt))
    blkoff += blkcnt

page = bytearray(struct.pack("<4sIIII12x", b"RpmP", 0, len(blobs) + 1, 1,
                             max(i for i, _ in blobs) + 1 if blobs else 1))
for s in slots:
    page += s
while len(page) < PAGE:
    page += struct.pack("<4s12x", b"Slot")
with open(out, "wb") as f:
    f.write(bytes(page) + bytes(data))
