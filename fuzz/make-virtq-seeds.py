#!/usr/bin/env python3
# Writes the seeds of fuzz/fuzz_virtq.c into fuzz/corpus/virtq (the input's
# layout is described there): a driver's well-formed requests to virtio-rng
# and virtio-blk, and the ways a guest breaks a ring. Each seed carries only
# the RAM up to its last non-zero byte (the target fills the rest with zeros).
import os
import struct
import sys

BLK, READONLY, NO_VERSION_1 = 1, 2, 4
OP_WRITE, OP_READ, OP_STORE, OP_NOTIFY = range(4)
NEXT, WRITE = 1, 2
DESC, AVAIL, USED = 0x0000, 0x1000, 0x2000
FEATURES = {0: 0, BLK: (1 << 2) | (1 << 6) | (1 << 9)}  # SEG_MAX, BLK_SIZE, FLUSH


def seed(device, descs, heads, ram=(), ops=(), num=8, sel=0, rings=(DESC, AVAIL, USED)):
    mem = bytearray(0x10000)
    for i, (addr, length, flags, nxt) in enumerate(descs):
        struct.pack_into('<QIHH', mem, rings[0] + 16 * i, addr, length, flags, nxt)
    for i, h in enumerate(heads):
        struct.pack_into('<H', mem, AVAIL + 4 + 2 * i, h)
    for addr, data in ram:
        mem[addr:addr + len(data)] = data
    hdr = struct.pack('<BBHIIHHQQQ', device, len(ops), num, sel, FEATURES[device & BLK], 0, len(heads), *rings)
    body = b''.join(struct.pack('<BBHI', *o) for o in ops)
    return hdr + body + bytes(mem).rstrip(b'\0')


def blk_req(kind, sector):
    return struct.pack('<IIQ', kind, 0, sector)


SEEDS = {
    # one 64-byte buffer filled with entropy
    'rng-one-buffer': seed(0, [(0x4000, 64, WRITE, 0)], [0]),
    # three chains, one of three buffers with a driver-readable one among them
    'rng-chained': seed(0, [(0x4000, 16, WRITE | NEXT, 1), (0x4100, 8, NEXT, 2), (0x4200, 32, WRITE, 0),
                            (0x4300, 1, WRITE, 0)], [0, 3, 3]),
    # a read of two sectors: header, one data buffer, status
    'blk-read': seed(BLK, [(0x4000, 16, NEXT, 1), (0x5000, 1024, WRITE | NEXT, 2), (0x6000, 1, WRITE, 0)], [0],
                     ram=[(0x4000, blk_req(0, 3))]),
    # a write split 100 + 412 bytes, a read back, the serial, a flush
    'blk-write-read-id-flush': seed(
        BLK, [(0x4000, 16, NEXT, 1), (0x5000, 100, NEXT, 2), (0x5100, 412, NEXT, 3), (0x6000, 1, WRITE, 0),
              (0x4010, 16, NEXT, 5), (0x7000, 512, WRITE | NEXT, 6), (0x6001, 1, WRITE, 0),
              (0x4020, 16, NEXT, 8), (0x7400, 20, WRITE | NEXT, 9), (0x6002, 1, WRITE, 0),
              (0x4030, 16, NEXT, 11), (0x6003, 1, WRITE, 0)], [0, 4, 7, 10],
        ram=[(0x4000, blk_req(1, 5)), (0x4010, blk_req(0, 5)), (0x4020, blk_req(8, 0)), (0x4030, blk_req(4, 0)),
             (0x5000, b'\x5a' * 100), (0x5100, b'\xa5' * 412)], num=16),
    # a chain that loops back on itself
    'rng-loop': seed(0, [(0x4000, 8, WRITE | NEXT, 1), (0x4008, 8, WRITE | NEXT, 0)], [0]),
    'blk-loop': seed(BLK, [(0x4000, 16, NEXT, 1), (0x5000, 512, WRITE | NEXT, 1)], [0],
                     ram=[(0x4000, blk_req(0, 0))]),
    # a buffer running past the end of RAM, a descriptor past the queue's end
    'rng-buffer-out-of-ram': seed(0, [(0xfff0, 64, WRITE, 0)], [0]),
    'blk-next-past-queue': seed(BLK, [(0x4000, 16, NEXT, 200)], [0], ram=[(0x4000, blk_req(0, 0))]),
    # rings outside RAM, misaligned, and more buffers made available than the queue has
    'rng-rings-out-of-ram': seed(0, [], [], rings=(0x1fff0, AVAIL, USED)),
    'rng-used-out-of-ram': seed(0, [(0x4000, 64, WRITE, 0)], [0], rings=(DESC, AVAIL, 0xffff_ffff_0000)),
    'rng-desc-misaligned': seed(0, [(0x4000, 64, WRITE, 0)], [0], rings=(DESC + 8, AVAIL, USED)),
    'blk-too-many-available': seed(BLK, [(0x6000, 1, WRITE, 0)], [0] * 9),
    # registers a driver must not touch: writes after ready, odd sizes, QueueSel past the queues, a
    # notify of a queue the device has not, the configuration read in pieces; then one more request
    'blk-hostile-registers': seed(
        BLK, [(0x4000, 16, NEXT, 1), (0x5000, 512, WRITE | NEXT, 2), (0x6000, 1, WRITE, 0)], [],
        ram=[(0x4000, blk_req(0, 1))],
        ops=[(OP_WRITE, 3, 0x38, 4), (OP_WRITE, 3, 0x80, 0x8000), (OP_WRITE, 0, 0x70, 0), (OP_READ, 7, 0x100, 0),
             (OP_READ, 0, 0x10d, 0), (OP_READ, 1, 0x1fe, 0), (OP_WRITE, 3, 0x30, 7), (OP_WRITE, 3, 0x38, 16),
             (OP_WRITE, 3, 0x44, 1), (OP_NOTIFY, 0, 0, 5), (OP_STORE, 0, AVAIL + 2, 1), (OP_NOTIFY, 0, 0, 0)]),
    # the driver resets a broken device and sets it up again
    'rng-reset-after-break': seed(
        0, [(0x4000, 64, WRITE, 0)], [0], num=8,
        ops=[(OP_STORE, 0, 0, 0xfff0), (OP_NOTIFY, 0, 0, 0), (OP_STORE, 0, 0, 0x4000), (OP_WRITE, 3, 0x70, 0),
             (OP_WRITE, 3, 0x70, 7), (OP_WRITE, 3, 0x38, 8), (OP_WRITE, 3, 0x90, AVAIL), (OP_WRITE, 3, 0xa0, USED),
             (OP_WRITE, 3, 0x44, 1), (OP_WRITE, 3, 0x70, 15)]),
}

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), 'corpus', 'virtq')
os.makedirs(out, exist_ok=True)
for name, data in SEEDS.items():
    with open(os.path.join(out, name), 'wb') as f:
        f.write(data)
