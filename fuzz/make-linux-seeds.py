#!/usr/bin/env python3
"""Seeds of the linux_kernel fuzz target (fuzz/corpus/linux_kernel), made once and kept in git:
   make-linux-seeds.py BZIMAGE...   real bzImages (guests/linux*/bzImage) cut down to their setup
                                    code and 4 KiB of kernel, init_size shrunk to fit 64 MiB of RAM;
                                    and two small PVH vmlinux files (ELF64, PT_LOAD + the Xen note)."""
import os, struct, sys

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "linux_kernel")

def cut_bzimage(path, name):
    img = bytearray(open(path, "rb").read())
    setup_sects = img[0x1f1] or 4
    pm_offset = (setup_sects + 1) * 512
    struct.pack_into("<I", img, 0x1f4, 4096 // 16)      # syssize: 4 KiB of protected-mode code
    struct.pack_into("<I", img, 0x260, 4 << 20)         # init_size: 4 MiB
    open(os.path.join(out, name), "wb").write(img[:pm_offset + 4096])

def pvh_elf(name, descsz, segs, entry):
    note = struct.pack("<III4s", 4, descsz, 18, b"Xen\0") + struct.pack("<I" if descsz == 4 else "<Q", entry)
    phnum = len(segs) + 1
    data_off = 0x1000
    phdrs = struct.pack("<IIQQQQQQ", 4, 4, 0x200, 0, 0, len(note), len(note), 4)   # PT_NOTE
    body, off = b"", data_off
    for paddr, filesz, memsz in segs:
        phdrs += struct.pack("<IIQQQQQQ", 1, 7, off, paddr | 0xffffffff80000000, paddr, filesz, memsz, 0x1000)
        body += bytes((i * 7 + paddr) & 0xff for i in range(filesz))
        off += filesz
    ehdr = struct.pack("<16sHHIQQQIHHHHHH", b"\x7fELF\x02\x01\x01" + bytes(9), 2, 62, 1,
                       entry | 0xffffffff80000000, 64, 0, 0, 64, 56, phnum, 64, 0, 0)
    img = bytearray(data_off)
    img[:64] = ehdr
    img[64:64 + len(phdrs)] = phdrs
    img[0x200:0x200 + len(note)] = note
    open(os.path.join(out, name), "wb").write(bytes(img) + body)

os.makedirs(out, exist_ok=True)
for i, p in enumerate(sys.argv[1:]):
    cut_bzimage(p, "bzimage-cut-%d" % i)
pvh_elf("pvh-note4", 4, [(0x1000000, 0x1000, 0x3000)], 0x1000010)
pvh_elf("pvh-note8-two-segments", 8, [(0x1000000, 0x800, 0x1000), (0x1200000, 0x1000, 0x2000)], 0x1200100)
