# Payload guests (flat binaries built with GNU as/ld) are added by the VMM work.
include guests/linux/local.mk
