/* SPDX-License-Identifier: MIT */
/*
 * The payload header (struct payload_header). Each payload defines
 * payload_name, payload_args (a "k1\0k2\0\0" list, or the absolute symbol 0
 * to accept any key) and payload_flags (absolute).
 */
#include <payload_abi.h>

	.section .payload_header, "a"
	.quad PAYLOAD_MAGIC
	.long PAYLOAD_ABI_VERSION
	.long PH_SIZE
	.quad __image_start
	.quad _start
	.quad __file_end
	.quad __mem_end
	.quad payload_name
	.quad payload_args
	.long payload_flags
	.long 0
	.quad 0
