/* SPDX-License-Identifier: MIT */
/*
 * Event lines (docs/ctl.md, "Events"): a handler's ctl_server_event() lines
 * come before its request's one reply, carry the request's id, reach
 * ctl_client_request_events()'s callback and are skipped by
 * ctl_client_request(); a client that does not read loses events, never
 * blocks the handler and still gets whole lines and its reply.
 */
#include "config.h"
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "ctl_helpers.h"
#include "ctl/internal.h"
#include "util/clock.h"

TestSuite(ctl_events, .init = ctl_fixture_init, .fini = ctl_fixture_fini, .timeout = 60);

static const struct ctl_arg events_args[] = {
	{ .name = "n", .type = CTL_ARG_INT, .required = true, .min = 0, .max = 100000, .help = "events to send" },
	{ .name = "pad", .type = CTL_ARG_INT, .min = 0, .max = 60000, .help = "bytes of padding per event" },
	{ 0 },
};

/* Sends n progress events (padded), then replies with how many the server took and how long it took. */
static json_t *h_events(void *ctx, json_t *args, struct ctl_error *err)
{
	struct ctl_server *srv = ctx;
	json_int_t n = json_integer_value(json_object_get(args, "n"));
	json_int_t pad = json_integer_value(json_object_get(args, "pad"));
	char *p = calloc(1, (size_t)pad + 1);
	uint64_t t0 = util_mono_ns();
	json_int_t sent = 0;

	if (!p)
		return ctl_fail(err, CTL_NO_MEMORY, "pad");
	memset(p, 'x', (size_t)pad);
	for (json_int_t i = 0; i < n; i++)
		sent += !ctl_server_event(srv, json_pack("{s:s, s:I, s:I, s:s}", "event", "progress", "done_bytes", i + 1,
						       "total_bytes", n, "pad", p));
	free(p);
	return json_pack("{s:I, s:f}", "sent", sent, "ms", (double)(util_mono_ns() - t0) / 1e6);
}

static void register_events(void)
{
	static const struct ctl_command cmd = { .name = "events", .help = "send events", .args = events_args,
						.handler = h_events };

	cr_assert_eq(ctl_server_register(ctl_fix_srv, &cmd, ctl_fix_srv), 0);
}

Test(ctl_events, events_come_before_the_one_reply_with_the_request_id)
{
	int fd = conn_open(ctl_fix_tmp.path);
	json_t *r;

	register_events();
	conn_send(fd, "{\"cmd\": \"events\", \"args\": {\"n\": 3}, \"id\": \"s1\"}\n");
	for (int i = 1; i <= 3; i++) {
		r = conn_recv(fd);
		cr_assert_not_null(r);
		cr_assert_str_eq(json_string_value(json_object_get(r, "event")), "progress");
		cr_assert_null(json_object_get(r, "ok"), "an event is never a reply");
		cr_assert_eq(json_integer_value(json_object_get(r, "done_bytes")), i, "in order");
		cr_assert_str_eq(json_string_value(json_object_get(r, "id")), "s1", "the request's id");
		json_decref(r);
	}
	r = conn_recv(fd);
	cr_assert_eq(json_integer_value(json_object_get(reply_result(r), "sent")), 3);
	cr_assert_str_eq(json_string_value(json_object_get(r, "id")), "s1");
	json_decref(r);
	/* one reply per request, as before: the next request's reply is next */
	r = conn_call(fd, "{\"cmd\": \"add\", \"args\": {\"a\": 1, \"b\": 2}}\n");
	cr_assert_eq(json_integer_value(json_object_get(reply_result(r), "sum")), 3);
	json_decref(r);
	close(fd);
}

static void count_event(json_t *event, void *arg)
{
	json_int_t *seen = arg;

	cr_assert_eq(json_integer_value(json_object_get(event, "done_bytes")), *seen + 1);
	(*seen)++;
}

Test(ctl_events, the_client_hands_events_to_its_callback_or_skips_them)
{
	json_t *req = json_pack("{s:s, s:{s:i}}", "cmd", "events", "args", "n", 5), *reply;
	json_int_t seen = 0;
	struct ctl_error err;
	int fd;

	register_events();
	fd = ctl_client_connect(ctl_fix_tmp.path, 5000, &err);
	cr_assert_geq(fd, 0, "%s", err.message);
	cr_assert_eq(ctl_client_request_events(fd, req, 5000, count_event, &seen, &reply, &err), 0, "%s", err.message);
	cr_assert_eq(seen, 5);
	cr_assert(json_is_true(json_object_get(reply, "ok")));
	json_decref(reply);
	/* the plain request on the same connection: events skipped, the reply is the reply */
	cr_assert_eq(ctl_client_request(fd, req, 5000, &reply, &err), 0, "%s", err.message);
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(reply, "result"), "sent")), 5);
	json_decref(reply);
	json_decref(req);
	close(fd);
}

Test(ctl_events, a_client_not_reading_loses_events_not_the_handler_nor_its_reply)
{
	int fd = conn_open(ctl_fix_tmp.path), bufsz = 4096;
	struct ctl_server_stats st;
	json_int_t sent, events = 0;
	json_t *r;

	register_events();
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof(bufsz));
	/* 2000 events of ~1 KiB, ~2 MiB in all, into a client that reads nothing until the end */
	conn_send(fd, "{\"cmd\": \"events\", \"args\": {\"n\": 2000, \"pad\": 1000}, \"id\": 9}\n");
	while ((r = conn_recv(fd)) && json_object_get(r, "event")) {
		cr_assert_eq(strlen(json_string_value(json_object_get(r, "pad"))), 1000, "every line whole");
		events++;
		json_decref(r);
	}
	cr_assert_not_null(r, "the reply came");
	sent = json_integer_value(json_object_get(reply_result(r), "sent"));
	cr_assert_lt(sent, 2000, "a socket that full takes no more: events dropped");
	cr_assert_geq(events, sent, "every event the server took arrived (one cut short may be finished)");
	cr_assert_leq(events, sent + 1);
	cr_assert_lt(json_real_value(json_object_get(reply_result(r), "ms")), 5000, "the handler never blocked");
	json_decref(r);
	ctl_server_get_stats(ctl_fix_srv, &st);
	cr_assert_eq(st.events + st.events_dropped, 2000);
	close(fd);
}
