/* SPDX-License-Identifier: MIT */
/* The --net option: tap=NAME[,mac=52:54:00:xx:xx:xx] (virtio_net.h). */
#include "config.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "virtio_net.h"
#include "util/error.h"

/* The kernel's rules for an interface name (dev_valid_name), so a bad one is the option's error. */
static bool valid_ifname(const char *s, size_t len)
{
	if (!len || len >= IFNAMSIZ || (len == 1 && s[0] == '.') || (len == 2 && !strncmp(s, "..", 2)))
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] == '/' || s[i] == ':' || s[i] == ' ' || (s[i] >= '\t' && s[i] <= '\r'))
			return false;
	return true;
}

static int hex_digit(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Six hex pairs with colons, unicast and not all zero: an address a NIC may have. */
static bool parse_mac(const char *s, size_t len, uint8_t mac[6])
{
	if (len != 17)
		return false;
	for (unsigned i = 0; i < 6; i++) {
		int hi = hex_digit(s[3 * i]), lo = hex_digit(s[3 * i + 1]);

		if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != ':'))
			return false;
		mac[i] = (uint8_t)(hi << 4 | lo);
	}
	return !(mac[0] & 1) && (mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]);
}

/* 52:54:00 (a locally administered unicast prefix, QEMU's) and three bytes of the name's FNV-1a hash. */
static void mac_from_name(const char *name, uint8_t mac[6])
{
	uint32_t h = 2166136261u;

	for (const char *p = name; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	mac[0] = 0x52, mac[1] = 0x54, mac[2] = 0x00;
	mac[3] = (uint8_t)(h >> 16), mac[4] = (uint8_t)(h >> 8), mac[5] = (uint8_t)h;
}

int virtio_net_parse(const char *spec, struct virtio_net_config *cfg, char name[IFNAMSIZ])
{
	bool have_mac = false;
	const char *p = spec;

	memset(cfg, 0, sizeof(*cfg));
	name[0] = 0;
	while (*p) {
		const char *end = strchr(p, ','), *eq;
		size_t len = end ? (size_t)(end - p) : strlen(p);

		eq = memchr(p, '=', len);
		if (eq && eq - p == 3 && !strncmp(p, "tap", 3)) {
			if (!valid_ifname(eq + 1, len - 4))
				return vmm_fail(-EINVAL, "--net '%s': tap '%.*s' is not an interface name (1 to %d characters, "
						"no '/', ':' or spaces)", spec, (int)(len - 4), eq + 1, IFNAMSIZ - 1);
			snprintf(name, IFNAMSIZ, "%.*s", (int)(len - 4), eq + 1);
		} else if (eq && eq - p == 3 && !strncmp(p, "mac", 3)) {
			if (!parse_mac(eq + 1, len - 4, cfg->mac))
				return vmm_fail(-EINVAL, "--net '%s': mac '%.*s' is not a unicast MAC address "
						"(like 52:54:00:12:34:56)", spec, (int)(len - 4), eq + 1);
			have_mac = true;
		} else {
			return vmm_fail(-EINVAL, "--net '%s': unknown option '%.*s' (tap=NAME[,mac=MAC])", spec, (int)len, p);
		}
		p = end ? end + 1 : p + len;
	}
	if (!name[0])
		return vmm_fail(-EINVAL, "--net '%s': expected tap=NAME[,mac=MAC]", spec);
	cfg->tap = name;
	if (!have_mac)
		mac_from_name(name, cfg->mac);
	return 0;
}
