/* SPDX-License-Identifier: MIT */
/* The control protocol over a real unix socket: replies, ids, every malformed input, framing limits. */
#include "config.h"
#include <criterion/criterion.h>
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "ctl_helpers.h"
#include "ctl/internal.h"

TestSuite(ctl, .init = ctl_fixture_init, .fini = ctl_fixture_fini, .timeout = 60);

/* A valid request after a bad one must still be served on the same connection. */
static void assert_still_serving(int fd)
{
	json_t *r = conn_call(fd, "{\"cmd\": \"add\", \"args\": {\"a\": 40, \"b\": 2}, \"id\": \"after\"}\n");

	cr_assert_eq(json_integer_value(json_object_get(reply_result(r), "sum")), 42);
	cr_assert_str_eq(json_string_value(json_object_get(r, "id")), "after");
	json_decref(r);
}

Test(ctl, valid_request_gets_result_and_id_echo)
{
	static const char *const ids[] = { "7", "\"abc\"", "{\"k\": [1, 2]}", "null", "-1.5" };
	int fd = conn_open(ctl_fix_tmp.path);
	json_t *r;

	cr_assert_geq(fd, 0);
	for (unsigned i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		char line[256];
		json_t *want = json_loads(ids[i], JSON_DECODE_ANY, NULL);

		snprintf(line, sizeof(line), "{\"cmd\": \"add\", \"args\": {\"a\": %u, \"b\": 1}, \"id\": %s}\n", i, ids[i]);
		r = conn_call(fd, line);
		cr_assert_eq(json_integer_value(json_object_get(reply_result(r), "sum")), i + 1);
		cr_assert(json_equal(json_object_get(r, "id"), want), "id %s not echoed", ids[i]);
		json_decref(want);
		json_decref(r);
	}
	/* no id in, no id out; no args means {} */
	r = conn_call(fd, "{\"cmd\": \"echo\"}\n");
	cr_assert_null(json_object_get(r, "id"));
	cr_assert_eq(json_object_size(json_object_get(reply_result(r), "args")), 0);
	json_decref(r);
	/* a handler returning NULL without an error: result {} */
	close(fd);
}

Test(ctl, pipelined_requests_answered_in_order)
{
	enum { N = 200 };
	size_t cap = N * 80, off = 0;
	char *batch = malloc(cap);
	int fd = conn_open(ctl_fix_tmp.path);

	cr_assert_geq(fd, 0);
	for (int i = 0; i < N; i++)
		off += (size_t)snprintf(batch + off, cap - off, "{\"cmd\":\"add\",\"args\":{\"a\":%d,\"b\":%d},\"id\":%d}\n",
					i, i, i);
	conn_send(fd, batch);
	for (int i = 0; i < N; i++) {
		json_t *r = conn_recv(fd);

		cr_assert_not_null(r);
		cr_assert_eq(json_integer_value(json_object_get(r, "id")), i);
		cr_assert_eq(json_integer_value(json_object_get(reply_result(r), "sum")), 2 * i);
		json_decref(r);
	}
	free(batch);
	close(fd);
}

Test(ctl, connections_stay_open_and_are_independent)
{
	int a = conn_open(ctl_fix_tmp.path), b = conn_open(ctl_fix_tmp.path);
	json_t *r;

	cr_assert(a >= 0 && b >= 0);
	/* half a line on a must not hold up b */
	conn_send(a, "{\"cmd\": \"add\", \"args\": {\"a\": 1,");
	r = conn_call(b, "{\"cmd\": \"add\", \"args\": {\"a\": 2, \"b\": 2}}\n");
	cr_assert_eq(json_integer_value(json_object_get(reply_result(r), "sum")), 4);
	json_decref(r);
	r = conn_call(a, " \"b\": 5}}\n");
	cr_assert_eq(json_integer_value(json_object_get(reply_result(r), "sum")), 6);
	json_decref(r);
	close(a);
	close(b);
}

/* 47 bytes: a message quoting 48 bytes ('%.48s') of A47 "é" cuts the letter in two */
#define A47 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

Test(ctl, every_malformed_request_gets_its_error_and_the_server_keeps_serving)
{
	static const struct bad_case cases[] = {
		{ "this is not json\n", "bad_json", "not valid JSON" },
		{ "{\"cmd\": \"add\"\n", "bad_json", "not valid JSON" },
		{ "{\"cmd\": \"add\", \"cmd\": \"echo\"}\n", "bad_json", "duplicate" },
		{ "{\"cmd\": \"echo\", \"args\": {\"text\": \"a\\u0000b\"}}\n", "bad_json", "not valid JSON" },
		{ "{\"cmd\": \"echo\", \"args\": {\"text\": \"\xff\xfe\"}}\n", "bad_json", "not valid JSON" },
		{ "[1, 2, 3]\n", "not_object", "array" },
		{ "42\n", "not_object", "scalar" },
		{ "\"add\"\n", "not_object", "scalar" },
		{ "{}\n", "no_cmd", "cmd" },
		{ "{\"cmd\": 5}\n", "no_cmd", "string" },
		{ "{\"cmd\": null}\n", "no_cmd", "string" },
		{ "{\"cmd\": \"add\", \"arg\": {}}\n", "unknown_field", "'arg'" },
		{ "{\"cmd\": \"nope\"}\n", "unknown_cmd", "'nope'" },
		{ "{\"cmd\": \"\"}\n", "unknown_cmd", "''" },
		/* the message quotes 48 bytes of the name and so cuts the 'é' in two: the cut half becomes '?' */
		{ "{\"cmd\": \"" A47 "\xc3\xa9\"}\n", "unknown_cmd", "aaaa?' (try 'help')" },
		{ "{\"cmd\": \"add\", \"" A47 "\xc3\xa9\": 1}\n", "unknown_field", "aaaa?' (fields" },
		{ "{\"cmd\": \"echo\", \"args\": {\"s\": \"" A47 "\xc3\xa9\"}}\n", "arg_value", "aaaa?', must be" },
		{ "{\"cmd\": \"add\", \"args\": [1, 2]}\n", "bad_args", "object" },
		{ "{\"cmd\": \"add\", \"args\": \"a=1\"}\n", "bad_args", "object" },
		{ "{\"cmd\": \"add\", \"args\": {\"a\": 1}}\n", "missing_arg", "'b'" },
		{ "{\"cmd\": \"add\"}\n", "missing_arg", "'a'" },
		{ "{\"cmd\": \"add\", \"args\": {\"a\": 1, \"b\": \"2\"}}\n", "arg_type", "'b'" },
		{ "{\"cmd\": \"add\", \"args\": {\"a\": 1.5, \"b\": 2}}\n", "arg_type", "'a'" },
		{ "{\"cmd\": \"add\", \"args\": {\"a\": 1, \"b\": 2, \"c\": 3}}\n", "unknown_arg", "'c'" },
		{ "{\"cmd\": \"fail\", \"args\": {\"x\": 1}}\n", "unknown_arg", "takes none" },
		{ "{\"cmd\": \"echo\", \"args\": {\"n\": 6}}\n", "arg_value", "[-5, 5]" },
		{ "{\"cmd\": \"echo\", \"args\": {\"n\": -6}}\n", "arg_value", "[-5, 5]" },
		{ "{\"cmd\": \"echo\", \"args\": {\"s\": \"fast\"}}\n", "arg_value", "tlb, balanced" },
		{ "{\"cmd\": \"echo\", \"args\": {\"flag\": 1}}\n", "arg_type", "bool" },
		{ "{\"cmd\": \"echo\", \"args\": {\"value\": [1]}}\n", "arg_type", "object" },
		{ "{\"cmd\": \"echo\", \"args\": {\"list\": [1, \"2\"]}}\n", "arg_type", "element 1" },
		{ "{\"cmd\": \"echo\", \"args\": {\"list\": [1, -2]}}\n", "arg_type", "uint" },
		{ "{\"cmd\": \"echo\", \"args\": {\"list\": []}}\n", "arg_value", "length 0" },
		{ "{\"cmd\": \"echo\", \"args\": {\"list\": [1, 2, 3, 4]}}\n", "arg_value", "length 4" },
		{ "{\"cmd\": \"echo\", \"args\": {\"real\": 1.5}}\n", "arg_value", "'real'" },
		{ "{\"cmd\": \"sleep\", \"args\": {\"ms\": -1}}\n", "arg_type", "uint" },
		{ "{\"cmd\": \"sleep\", \"args\": {\"ms\": 10001}}\n", "arg_value", "[0, 10000]" },
		{ "{\"cmd\": \"fail\"}\n", "bad_state", "not paused" },
		{ "{\"cmd\": \"bad_result\"}\n", "internal", "not an object" },
	};
	struct ctl_server_stats before, after;
	int fd = conn_open(ctl_fix_tmp.path);

	cr_assert_geq(fd, 0);
	ctl_server_get_stats(ctl_fix_srv, &before);
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bad_case_check(fd, &cases[i], i);
		assert_still_serving(fd);
	}
	ctl_server_get_stats(ctl_fix_srv, &after);
	cr_assert_eq(after.errors - before.errors, sizeof(cases) / sizeof(cases[0]));
	cr_assert_eq(after.requests - before.requests, 2 * sizeof(cases) / sizeof(cases[0]));
	close(fd);
}

Test(ctl, error_replies_echo_the_id_of_a_parsed_request)
{
	int fd = conn_open(ctl_fix_tmp.path);
	json_t *r;

	r = conn_call(fd, "{\"cmd\": \"nope\", \"id\": 99}\n");
	reply_error(r, "unknown_cmd");
	cr_assert_eq(json_integer_value(json_object_get(r, "id")), 99);
	json_decref(r);
	r = conn_call(fd, "{\"cmd\": \"add\", \"args\": {\"a\": \"x\", \"b\": 1}, \"id\": \"q\"}\n");
	reply_error(r, "arg_type");
	cr_assert_str_eq(json_string_value(json_object_get(r, "id")), "q");
	json_decref(r);
	/* an unparsable request has no id to echo */
	r = conn_call(fd, "{\"cmd\": \"add\", \"id\": 5\n");
	reply_error(r, "bad_json");
	cr_assert_null(json_object_get(r, "id"));
	json_decref(r);
	close(fd);
}

Test(ctl, blank_lines_are_ignored_and_crlf_is_accepted)
{
	int fd = conn_open(ctl_fix_tmp.path);
	json_t *r;

	conn_send(fd, "\n\r\n   \n\t\n");
	r = conn_call(fd, "{\"cmd\": \"add\", \"args\": {\"a\": 1, \"b\": 1}, \"id\": 1}\r\n");
	/* the first reply is the request's: blank lines got none */
	cr_assert_eq(json_integer_value(json_object_get(r, "id")), 1);
	reply_result(r);
	json_decref(r);
	close(fd);
}

Test(ctl, last_request_without_newline_is_answered_at_eof)
{
	int fd = conn_open(ctl_fix_tmp.path);
	json_t *r;

	conn_send(fd, "{\"cmd\": \"add\", \"args\": {\"a\": 3, \"b\": 4}}");
	shutdown(fd, SHUT_WR);
	r = conn_recv(fd);
	cr_assert_not_null(r);
	cr_assert_eq(json_integer_value(json_object_get(reply_result(r), "sum")), 7);
	json_decref(r);
	cr_assert(conn_closed(fd), "the server closes a connection whose client finished");
	close(fd);
}

/* A request padded with spaces to exactly len bytes before its newline. */
static char *padded_request(size_t len)
{
	const char *req = "{\"cmd\": \"add\", \"args\": {\"a\": 1, \"b\": 1}}";
	char *line = malloc(len + 2);

	memset(line, ' ', len);
	memcpy(line, req, strlen(req));
	line[len] = '\n';
	line[len + 1] = '\0';
	return line;
}

Test(ctl, line_of_the_maximum_length_is_served_one_more_byte_is_refused)
{
	int fd = conn_open(ctl_fix_tmp.path);
	char *ok_line = padded_request(CTL_LINE_MAX - 1), *long_line = padded_request(CTL_LINE_MAX);
	json_t *r;

	r = conn_call(fd, ok_line);
	cr_assert_eq(json_integer_value(json_object_get(reply_result(r), "sum")), 2);
	json_decref(r);
	r = conn_call(fd, long_line);
	cr_assert_not_null(strstr(reply_error(r, "line_too_long"), "65536"));
	json_decref(r);
	assert_still_serving(fd);
	free(ok_line);
	free(long_line);
	close(fd);
}

Test(ctl, oversized_line_is_refused_drained_and_the_server_keeps_serving)
{
	static char chunk[64 * 1024];
	struct ctl_server_stats st;
	int fd = conn_open(ctl_fix_tmp.path);
	json_t *r;

	/* 1 MiB without a newline: the refusal comes before the line ends */
	memset(chunk, 'x', sizeof(chunk));
	for (int i = 0; i < 16; i++)
		cr_assert_eq(send(fd, chunk, sizeof(chunk), MSG_NOSIGNAL), (ssize_t)sizeof(chunk));
	r = conn_recv(fd);
	reply_error(r, "line_too_long");
	json_decref(r);
	/* the rest of the line, its newline, then a valid request */
	conn_send(fd, "still the same line}\n");
	assert_still_serving(fd);
	ctl_server_get_stats(ctl_fix_srv, &st);
	cr_assert_eq(st.lines_too_long, 1, "one refusal per line, not per buffer");
	cr_assert_eq(st.bytes_discarded, 16 * sizeof(chunk) + strlen("still the same line}\n"));
	close(fd);
}

/* Sends total bytes of 'x' without a newline, from a fixed buffer. */
static void *flood(void *arg)
{
	static char chunk[64 * 1024];
	int fd = *(int *)arg;

	memset(chunk, 'x', sizeof(chunk));
	for (size_t sent = 0; sent < (64u << 20);) {
		ssize_t n = send(fd, chunk, sizeof(chunk), MSG_NOSIGNAL);

		if (n <= 0)
			return (void *)(intptr_t)-errno;
		sent += (size_t)n;
	}
	return NULL;
}

Test(ctl, a_64_mib_line_does_not_grow_the_servers_memory)
{
	struct ctl_server_stats st;
	long before, after;
	pthread_t t;
	void *ret;
	int fd = conn_open(ctl_fix_tmp.path);
	json_t *r;

	before = rss_kib();
	cr_assert_eq(pthread_create(&t, NULL, flood, &fd), 0);
	r = conn_recv(fd);
	reply_error(r, "line_too_long");
	json_decref(r);
	pthread_join(t, &ret);
	cr_assert_null(ret, "flood: %s", strerror(-(int)(intptr_t)ret));
	after = rss_kib();
	/* the server holds one 64 KiB buffer per client whatever arrives */
	cr_assert_lt(after - before, 16 * 1024, "RSS grew by %ld KiB while 64 MiB arrived", after - before);
	conn_send(fd, "\n");
	assert_still_serving(fd);
	ctl_server_get_stats(ctl_fix_srv, &st);
	cr_assert_eq(st.bytes_discarded, (64u << 20) + 1, "the whole line was read and dropped");
	cr_assert_eq(st.lines_too_long, 1);
	close(fd);
}

Test(ctl, handlers_run_one_at_a_time_on_the_server_thread)
{
	int fds[4];

	for (int i = 0; i < 4; i++) {
		fds[i] = conn_open(ctl_fix_tmp.path);
		cr_assert_geq(fds[i], 0);
		conn_send(fds[i], "{\"cmd\": \"sleep\", \"args\": {\"ms\": 50}}\n");
	}
	for (int i = 0; i < 4; i++) {
		json_t *r = conn_recv(fds[i]);

		cr_assert_eq(json_integer_value(json_object_get(reply_result(r), "slept_ms")), 50);
		json_decref(r);
		close(fds[i]);
	}
	cr_assert_eq(ctl_test_max_concurrency(), 1);
}

Test(ctl, a_client_that_never_reads_does_not_block_others)
{
	int lazy = conn_open(ctl_fix_tmp.path), other = conn_open(ctl_fix_tmp.path);
	static char batch[2048];
	const char *req = "{\"cmd\": \"big\", \"args\": {\"bytes\": 100000}}\n";
	size_t off = 0;
	int bufsz = 4096;
	json_t *r;

	/* small buffers on the lazy client: its replies back up at once */
	setsockopt(lazy, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof(bufsz));
	while (off + strlen(req) < sizeof(batch)) {
		memcpy(batch + off, req, strlen(req));
		off += strlen(req);
	}
	batch[off] = '\0';
	conn_send(lazy, batch);
	for (int i = 0; i < 20; i++) {
		r = conn_call(other, "{\"cmd\": \"add\", \"args\": {\"a\": 1, \"b\": 2}}\n");
		cr_assert_eq(json_integer_value(json_object_get(reply_result(r), "sum")), 3);
		json_decref(r);
	}
	/* the lazy client's replies are all there when it reads */
	for (size_t i = 0; i < off / strlen(req); i++) {
		r = conn_recv(lazy);
		cr_assert_eq(strlen(json_string_value(json_object_get(reply_result(r), "data"))), 100000);
		json_decref(r);
	}
	close(lazy);
	close(other);
}

Test(ctl, help_lists_commands_with_their_schemas)
{
	int fd = conn_open(ctl_fix_tmp.path);
	json_t *r, *cmds, *c, *add = NULL, *arg;
	size_t i;

	r = conn_call(fd, "{\"cmd\": \"help\"}\n");
	cmds = json_object_get(reply_result(r), "commands");
	cr_assert_eq(json_array_size(cmds), 7, "help + 6 test commands");
	json_array_foreach(cmds, i, c)
		if (!strcmp(json_string_value(json_object_get(c, "name")), "add"))
			add = c;
	cr_assert_not_null(add);
	cr_assert_str_eq(json_string_value(json_object_get(add, "help")), "add two integers");
	arg = json_array_get(json_object_get(add, "args"), 1);
	cr_assert_str_eq(json_string_value(json_object_get(arg, "name")), "b");
	cr_assert_str_eq(json_string_value(json_object_get(arg, "type")), "int");
	cr_assert(json_is_true(json_object_get(arg, "required")));
	json_decref(r);

	r = conn_call(fd, "{\"cmd\": \"help\", \"args\": {\"command\": \"echo\"}}\n");
	cmds = json_object_get(reply_result(r), "commands");
	cr_assert_eq(json_array_size(cmds), 1);
	arg = json_array_get(json_object_get(json_array_get(cmds, 0), "args"), 2);
	cr_assert_str_eq(json_string_value(json_object_get(arg, "name")), "s");
	cr_assert_str_eq(json_string_value(json_array_get(json_object_get(arg, "choices"), 1)), "balanced");
	arg = json_array_get(json_object_get(json_array_get(cmds, 0), "args"), 4);
	cr_assert_str_eq(json_string_value(json_object_get(arg, "items")), "uint");
	cr_assert_eq(json_integer_value(json_object_get(arg, "max")), 3);
	json_decref(r);

	r = conn_call(fd, "{\"cmd\": \"help\", \"args\": {\"command\": \"nope\"}}\n");
	reply_error(r, "unknown_cmd");
	json_decref(r);
	close(fd);
}

static json_t *h_late(void *ctx, json_t *args, struct ctl_error *err)
{
	return json_pack("{s:s}", "ctx", (const char *)ctx);
}

Test(ctl, registration_checks_declarations_and_works_while_running)
{
	static const struct ctl_arg bad_range[] = { { .name = "x", .type = CTL_ARG_INT, .min = 5, .max = 1 }, { 0 } };
	static const struct ctl_arg dup[] = { { .name = "x", .type = CTL_ARG_INT }, { .name = "x", .type = CTL_ARG_BOOL }, { 0 } };
	static const char *const some[] = { "a", NULL };
	static const struct ctl_arg choices_on_int[] = { { .name = "x", .type = CTL_ARG_INT, .choices = some }, { 0 } };
	struct ctl_command cmd = { .name = "late", .help = "registered after start", .handler = h_late };
	char names[CTL_MAX_COMMANDS][16];
	int fd = conn_open(ctl_fix_tmp.path);
	unsigned n;
	json_t *r;

	cr_assert_eq(ctl_server_register(ctl_fix_srv, &cmd, "context"), 0);
	r = conn_call(fd, "{\"cmd\": \"late\"}\n");
	cr_assert_str_eq(json_string_value(json_object_get(reply_result(r), "ctx")), "context");
	json_decref(r);
	cr_assert_eq(ctl_server_register(ctl_fix_srv, &cmd, NULL), -EEXIST);

	cmd.name = "Bad Name";
	cr_assert_eq(ctl_server_register(ctl_fix_srv, &cmd, NULL), -EINVAL);
	cmd.name = "nohandler";
	cmd.handler = NULL;
	cr_assert_eq(ctl_server_register(ctl_fix_srv, &cmd, NULL), -EINVAL);
	cmd.handler = h_late;
	cmd.args = bad_range;
	cr_assert_eq(ctl_server_register(ctl_fix_srv, &cmd, NULL), -EINVAL);
	cmd.args = dup;
	cr_assert_eq(ctl_server_register(ctl_fix_srv, &cmd, NULL), -EINVAL);
	cmd.args = choices_on_int;
	cr_assert_eq(ctl_server_register(ctl_fix_srv, &cmd, NULL), -EINVAL);
	cmd.args = NULL;
	/* fill the table: help + 6 test + late = 8 */
	for (n = 8; n < CTL_MAX_COMMANDS; n++) {
		snprintf(names[n], sizeof(names[n]), "c%u", n);
		cmd.name = names[n];
		cr_assert_eq(ctl_server_register(ctl_fix_srv, &cmd, "x"), 0, "command %u", n);
	}
	cmd.name = "overflow";
	cr_assert_eq(ctl_server_register(ctl_fix_srv, &cmd, NULL), -ENOSPC);
	r = conn_call(fd, "{\"cmd\": \"c63\"}\n");
	reply_result(r);
	json_decref(r);
	close(fd);
}

static json_t *h_quit(void *ctx, json_t *args, struct ctl_error *err)
{
	struct ctl_server *s = ctx;

	/* the documented way for a handler: ask, do not join itself */
	if (ctl_server_stop(s) != -EDEADLK)
		return ctl_fail(err, CTL_INTERNAL, "ctl_server_stop on the server thread did not refuse");
	ctl_server_request_stop(s);
	return json_pack("{s:b}", "quitting", 1);
}

Test(ctl, quit_handler_replies_then_the_owner_stops_the_server)
{
	struct ctl_command quit = { .name = "quit", .help = "stop", .handler = h_quit };
	int fd = conn_open(ctl_fix_tmp.path), idle = conn_open(ctl_fix_tmp.path);
	json_t *r;

	cr_assert(fd >= 0 && idle >= 0);
	cr_assert_eq(ctl_server_register(ctl_fix_srv, &quit, ctl_fix_srv), 0);
	r = conn_call(fd, "{\"cmd\": \"quit\", \"id\": 1}\n");
	cr_assert(json_is_true(json_object_get(reply_result(r), "quitting")));
	json_decref(r);
	/* the thread stops by itself; its owner joins it; clients see the end */
	cr_assert(conn_closed(fd));
	cr_assert(conn_closed(idle));
	cr_assert_eq(ctl_server_stop(ctl_fix_srv), 0);
	cr_assert_eq(access(ctl_fix_tmp.path, F_OK), -1, "stop removes the socket");
	ctl_server_destroy(ctl_fix_srv);
	ctl_fix_srv = NULL;
	close(fd);
	close(idle);
}

Test(ctl, result_codes_are_unique_lower_case_and_map_back)
{
	for (unsigned r = 0; r < CTL_NR_RESULTS; r++) {
		const char *code = ctl_result_code((enum ctl_result)r);

		cr_assert_gt(strlen(code), 1);
		for (const char *p = code; *p; p++)
			cr_assert(islower((unsigned char)*p) || *p == '_', "code %s", code);
		cr_assert_eq(ctl_result_from_code(code), (enum ctl_result)r);
		cr_assert_gt(strlen(ctl_result_str((enum ctl_result)r)), 1);
		cr_assert_eq(ctl_result_errno((enum ctl_result)r) == 0, r == CTL_OK);
	}
	cr_assert_str_eq(ctl_result_code(CTL_BAD_JSON), "bad_json");
	cr_assert_eq(ctl_result_errno(CTL_LINE_TOO_LONG), EMSGSIZE);
	cr_assert_eq(ctl_result_from_code("no such code"), CTL_NR_RESULTS);
}

Test(ctl, messages_keep_valid_utf8_and_lose_only_broken_or_cut_sequences)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "plain ascii", "plain ascii" },
		{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80" },
		{ "cut \xc3", "cut ?" },			/* a two-byte letter cut after its lead byte */
		{ "cut \xe2\x82", "cut ??" },			/* a three-byte one cut after two */
		{ "lone \xa9 continuation", "lone ? continuation" },
		{ "overlong \xc0\xaf", "overlong ??" },	/* '/' in two bytes */
		{ "surrogate \xed\xa0\x80", "surrogate ???" },
		{ "beyond \xf4\x90\x80\x80", "beyond ????" },	/* U+110000 */
		{ "tab\tand\nnewline\x7f", "tab?and?newline?" },
	};

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char msg[64];
		json_t *j;

		snprintf(msg, sizeof(msg), "%s", cases[i].in);
		ctl_message_clean(msg);
		cr_assert_str_eq(msg, cases[i].out, "case %u", i);
		j = json_string(msg); /* jansson takes only valid UTF-8 */
		cr_assert_not_null(j, "case %u: '%s' is still not UTF-8", i, msg);
		json_decref(j);
	}
}
