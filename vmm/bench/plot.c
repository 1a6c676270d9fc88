/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "plot.h"
#include "util/util.h"
#include "config.h"

extern char **environ;

/* Copies src to out with every $DATA and $PNG replaced. */
static char *expand(const char *src, const char *data_path, const char *png_path)
{
	size_t cap = strlen(src) + 64 * (strlen(data_path) + strlen(png_path)) + 1, n = 0;
	char *out = malloc(cap);

	if (!out)
		return NULL;
	while (*src && n + 1 < cap) {
		const char *rep = NULL;
		size_t skip = 0;

		if (!strncmp(src, "$DATA", 5))
			rep = data_path, skip = 5;
		else if (!strncmp(src, "$PNG", 4))
			rep = png_path, skip = 4;
		if (rep && n + strlen(rep) + 1 < cap) {
			memcpy(out + n, rep, strlen(rep));
			n += strlen(rep);
			src += skip;
		} else {
			out[n++] = *src++;
		}
	}
	out[n] = '\0';
	return out;
}

int bench_plot(const char *png_path, const char *script, const char *data)
{
	const char *gnuplot = THPVM_GNUPLOT[0] ? THPVM_GNUPLOT : "gnuplot";
	char data_path[] = "/tmp/thpvm-plot-data-XXXXXX", script_path[] = "/tmp/thpvm-plot-gp-XXXXXX";
	char *argv[] = { (char *)gnuplot, script_path, NULL };
	char *body = NULL;
	int dfd = mkstemp(data_path), sfd = mkstemp(script_path), ret = 0, st;
	pid_t pid;

	if (dfd < 0 || sfd < 0 || !(body = expand(script, data_path, png_path)) ||
	    write(dfd, data, strlen(data)) != (ssize_t)strlen(data) || write(sfd, body, strlen(body)) != (ssize_t)strlen(body)) {
		cli_error("--plot: cannot write temporary files in /tmp: %s", strerror(errno));
		ret = -EIO;
		goto out;
	}
	close(dfd);
	close(sfd);
	dfd = sfd = -1;
	ret = posix_spawnp(&pid, gnuplot, NULL, NULL, argv, environ);
	if (ret) {
		cli_error("--plot: cannot run %s: %s (install the Debian package gnuplot-nox)", gnuplot, strerror(ret));
		ret = -ret;
		goto out;
	}
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) {
		cli_error("--plot: gnuplot failed to draw %s", png_path);
		ret = -EIO;
	}
out:
	if (dfd >= 0)
		close(dfd);
	if (sfd >= 0)
		close(sfd);
	unlink(data_path);
	unlink(script_path);
	free(body);
	return ret;
}
