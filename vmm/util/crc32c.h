/* SPDX-License-Identifier: MIT */
/*
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of a
 * snapshot's state file: the one iSCSI, ext4 and Btrfs use, and the one
 * Firecracker's snapshot files carry; table-driven, no CPU features needed.
 */
#ifndef THPVM_VMM_CRC32C_H
#define THPVM_VMM_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/*
 * The CRC-32C of buf, continuing from crc (0 to start): crc32c(crc32c(0, a,
 * n), b, m) is the CRC of a then b. crc32c(0, "123456789", 9) == 0xE3069283.
 */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

#endif
