/* SPDX-License-Identifier: MIT */
/* libthpvm: guest RAM on transparent huge pages, measured per 2 MiB extent. */
#ifndef THPVM_H
#define THPVM_H

#include <thpvm/result.h>
#include <thpvm/host.h>
#include <thpvm/memmap.h>
#include <thpvm/extent.h>
#include <thpvm/coverage.h>
#include <thpvm/collapse.h>
#include <thpvm/image.h>

#endif
