/* SPDX-License-Identifier: MIT */
/* Helpers for benchmarks that drive `thpvm run` processes: control-socket calls, guest results, waiting. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "bench.h"
#include "../ctl/ctl.h"
#include "util/error.h"

void bench_sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

json_t *bench_call(const char *sock, const char *cmd, json_t *args, int timeout_ms)
{
	struct ctl_error err;
	json_t *res = NULL;

	if (ctl_call(sock, cmd, args, timeout_ms, &res, &err)) {
		vmm_fail(-EIO, "%s on %s: %s", cmd, sock, err.message);
		return NULL;
	}
	return res;
}

double bench_json_num(json_t *o, const char *a, const char *b)
{
	json_t *v = json_object_get(o, a);

	if (b)
		v = json_object_get(v, b);
	return json_is_number(v) ? json_number_value(v) : NAN;
}

unsigned bench_console_values(const char *path, const char *name, double *out, unsigned max)
{
	char line[256];
	size_t len = strlen(name);
	unsigned n = 0;
	FILE *f = fopen(path, "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "result ", 7) && !strncmp(line + 7, name, len) && line[7 + len] == '=' && n < max)
			out[n++] = strtod(line + 8 + len, NULL);
	fclose(f);
	return n;
}

int bench_wait_gone(pid_t pid)
{
	for (unsigned i = 0; i < 120000; i++) {
		if (kill(pid, 0) && errno == ESRCH)
			return 0;
		bench_sleep_ms(1);
	}
	return vmm_fail(-ETIMEDOUT, "process %d did not end", (int)pid);
}
