/* SPDX-License-Identifier: MIT */
/* thpvm ctl: send one command to a VM's control socket and print the result. */
#include "config.h"
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"
#include "util/progress.h"
#include "util/opts.h"
#include "ctl/ctl.h"

#define DEFAULT_TIMEOUT_S 30

/* Exit statuses: the command failed on the VM's side vs. it could not be asked. */
enum { EXIT_OK = 0, EXIT_ERROR_REPLY = 1, EXIT_USAGE = 2 };

/* KEY=VALUE: VALUE as JSON when it parses (4, true, "x", [1]), else as a string. */
static int add_kv(json_t *args, const char *kv)
{
	const char *eq = strchr(kv, '=');
	char key[64];
	json_t *val;

	if (!eq || eq == kv || (size_t)(eq - kv) >= sizeof(key)) {
		cli_error("ctl: argument '%s' is not KEY=VALUE (or use --json '{...}')", kv);
		return -1;
	}
	memcpy(key, kv, (size_t)(eq - kv));
	key[eq - kv] = '\0';
	if (json_object_get(args, key)) {
		cli_error("ctl: argument '%s' given twice", key);
		return -1;
	}
	val = json_loads(eq + 1, JSON_DECODE_ANY, NULL);
	if (!val)
		val = json_string(eq + 1);
	if (!val || json_object_set_new(args, key, val)) {
		cli_error("ctl: argument '%s' is not valid UTF-8", key);
		return -1;
	}
	return 0;
}

static void print_help(json_t *result)
{
	size_t i, j;
	json_t *cmd, *arg;

	json_array_foreach(json_object_get(result, "commands"), i, cmd) {
		printf("%-10s %s\n", json_string_value(json_object_get(cmd, "name")),
		       json_string_value(json_object_get(cmd, "help")));
		json_array_foreach(json_object_get(cmd, "args"), j, arg) {
			char spec[96];
			json_t *min = json_object_get(arg, "min"), *max = json_object_get(arg, "max");
			json_t *choices = json_object_get(arg, "choices"), *c;
			int n = snprintf(spec, sizeof(spec), "%s=%s", json_string_value(json_object_get(arg, "name")),
					 json_string_value(json_object_get(arg, "type")));
			size_t k;

			if (json_is_string(json_object_get(arg, "items")) && n > 0 && (size_t)n < sizeof(spec))
				n += snprintf(spec + n, sizeof(spec) - (size_t)n, "[%s]",
					      json_string_value(json_object_get(arg, "items")));
			if (min && max && n > 0 && (size_t)n < sizeof(spec))
				n += snprintf(spec + n, sizeof(spec) - (size_t)n, " %lld..%lld",
					      (long long)json_integer_value(min), (long long)json_integer_value(max));
			json_array_foreach(choices, k, c)
				if (n > 0 && (size_t)n < sizeof(spec))
					n += snprintf(spec + n, sizeof(spec) - (size_t)n, "%s%s", k ? "|" : " ",
						      json_string_value(c));
			printf("    %-34s %s%s\n", spec, json_is_true(json_object_get(arg, "required")) ? "(required) " : "",
			       json_string_value(json_object_get(arg, "help")));
		}
	}
}

void ctl_cli_print_event(json_t *event, void *arg)
{
	json_t *done = json_object_get(event, "done_bytes"), *total = json_object_get(event, "total_bytes");
	const char *what = json_string_value(json_object_get(event, "what"));

	(void)arg;
	/* the VMM's own line, on this terminal; an event of another kind or shape is not ours to show */
	if (strcmp(json_string_value(json_object_get(event, "event")), "progress") || !what ||
	    !json_is_integer(done) || !json_is_integer(total))
		return;
	progress_lines_print(STDERR_FILENO, what, (uint64_t)json_integer_value(done), (uint64_t)json_integer_value(total),
			     (uint64_t)(json_number_value(json_object_get(event, "elapsed_ms")) * 1e6));
}

/* One request, its reply printed (stdout) or its error said (stderr); takes args. Returns the exit status. */
int ctl_cli_send(const char *path, const char *cmd, json_t *args, int timeout_ms, bool raw)
{
	struct ctl_error err;
	json_t *req, *reply;
	int fd, ret;

	req = json_pack("{s:s, s:o}", "cmd", cmd, "args", args);
	if (!req) {
		cli_error("ctl: command name '%s' is not valid UTF-8", cmd);
		return EXIT_USAGE;
	}

	fd = ctl_client_connect(path, timeout_ms, &err);
	if (fd < 0) {
		json_decref(req);
		cli_error("ctl: %s", err.message);
		return EXIT_USAGE;
	}
	ret = ctl_client_request_events(fd, req, timeout_ms, ctl_cli_print_event, NULL, &reply, &err);
	close(fd);
	json_decref(req);
	if (ret) {
		cli_error("ctl: %s: %s", path, err.message);
		return EXIT_USAGE;
	}
	if (!json_is_true(json_object_get(reply, "ok"))) {
		json_t *e = json_object_get(reply, "error");

		cli_error("%s: %s", json_string_value(json_object_get(e, "code")),
			  json_string_value(json_object_get(e, "message")));
		json_decref(reply);
		return EXIT_ERROR_REPLY;
	}
	if (!strcmp(cmd, "help") && !raw) {
		print_help(json_object_get(reply, "result"));
	} else if (!strcmp(cmd, "domxml") && !raw && json_is_string(json_object_get(json_object_get(reply, "result"), "xml"))) {
		/* the XML as a file holds it, for virsh or thpvm run --domain */
		fputs(json_string_value(json_object_get(json_object_get(reply, "result"), "xml")), stdout);
	} else {
		char *text = json_dumps(json_object_get(reply, "result"),
					raw ? JSON_COMPACT : JSON_INDENT(2));

		if (text)
			puts(text);
		free(text);
	}
	json_decref(reply);
	return fflush(stdout) ? EXIT_USAGE : EXIT_OK;
}

int ctl_cli_parse(int argc, char **argv, struct ctl_cli_req *req)
{
	static const struct option opts[] = {
		{ "raw", no_argument, NULL, 'r' },
		{ "json", required_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 't' },
		{ 0 },
	};
	double timeout_s = DEFAULT_TIMEOUT_S;
	const char *json_text = NULL;
	int c;
	char *end;

	memset(req, 0, sizeof(*req));
	opt_begin();
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			req->raw = true;
			break;
		case 'j':
			json_text = optarg;
			break;
		case 't':
			timeout_s = strtod(optarg, &end);
			if (*end || end == optarg || !(timeout_s >= 0 && timeout_s <= 86400)) {
				cli_error("ctl: --timeout expects seconds in [0, 86400] (0: wait forever), not '%s'", optarg);
				return EXIT_USAGE;
			}
			break;
		default:
			return opt_bad("ctl", c, argv);
		}
	}
	if (argc - optind < 2) {
		cli_error("ctl: usage: thpvm ctl [--raw] [--timeout S] SOCK COMMAND [KEY=VALUE...|--json '{...}']");
		return EXIT_USAGE;
	}
	req->path = argv[optind];
	req->cmd = argv[optind + 1];
	req->timeout_ms = timeout_s > 0 ? (int)(timeout_s * 1000 + 0.5) : -1;

	if (json_text) {
		json_error_t jerr;

		if (argc - optind > 2) {
			cli_error("ctl: give the arguments either as KEY=VALUE or with --json, not both");
			return EXIT_USAGE;
		}
		req->args = json_loads(json_text, 0, &jerr);
		if (!json_is_object(req->args)) {
			cli_error("ctl: --json expects an object like '{\"count\": 2}': %s",
				  req->args ? "not an object" : jerr.text);
			json_decref(req->args);
			req->args = NULL;
			return EXIT_USAGE;
		}
		return 0;
	}
	req->args = json_object();
	for (int i = optind + 2; i < argc; i++)
		if (add_kv(req->args, argv[i])) {
			json_decref(req->args);
			req->args = NULL;
			return EXIT_USAGE;
		}
	return req->args ? 0 : EXIT_USAGE;
}

static int run(int argc, char **argv)
{
	struct ctl_cli_req req;
	int ret = ctl_cli_parse(argc, argv, &req);

	return ret ? ret : ctl_cli_send(req.path, req.cmd, req.args, req.timeout_ms, req.raw);
}

const struct cli_command cmd_ctl = {
	.name = "ctl",
	.summary = "send a command to a running VM's control socket (try: thpvm ctl SOCK help)",
	.usage = "thpvm ctl [--raw] [--timeout SECONDS] SOCK COMMAND [KEY=VALUE...]\n"
		 "       thpvm ctl [--raw] [--timeout SECONDS] SOCK COMMAND --json '{\"key\": value}'\n"
		 "VALUE is JSON when it parses (count=4, template=true, sockets='[\"a\",\"b\"]'), else a string\n"
		 "(mode=tlb). Prints the result as JSON (--raw: on one line). Exit status: 0 ok, 1 the VM\n"
		 "answered with an error (thpvm: CODE: MESSAGE on stderr), 2 usage error or no answer\n"
		 "(no such socket, connection refused, permission denied, timeout; default 30 s, 0: none).",
	.run = run,
};
