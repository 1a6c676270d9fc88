/* SPDX-License-Identifier: MIT */
/* The pointer chase's timing unit (guests/lib/chase.S): chunks of dependent loads. */
#ifndef THPVM_GUEST_CHASE_H
#define THPVM_GUEST_CHASE_H

#define CHUNK_SHIFT 10
#define CHUNK_ACC   (1 << CHUNK_SHIFT)   /* loads per timed chunk */
#define MAX_CHUNKS  8192                 /* chunk times a payload keeps */

#endif
