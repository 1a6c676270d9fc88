/* SPDX-License-Identifier: MIT */
/*
 * The collapse thread as the rest of the VMM sees it: the control socket's
 * "collapse" command (served by a real ctl server, called through ctl_call()
 * and through the built `thpvm ctl`), `thpvm run --collapse` and the stats
 * report, and the VM hooks around a fork: paused for the fork, held while
 * the VM stays paused as a template, released when it resumes, and a fresh
 * collapser in the child. The fork flow is driven here the way the fork
 * code calls the hooks (prepare, vm_pause, fork, child / parent).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include "collapse_vm_test.h"
#include "kvm/vm.h"
#include "kvm/vm_stats.h"
#include "ctl/ctl.h"
#include "ctl_helpers.h"

#define A(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define GUEST_MEM (96 * MIB)
#define SEQ_BYTES (64 * MIB)
#define SEQ_EXTENTS ((unsigned)(SEQ_BYTES / (2 * MIB)))

TestSuite(collapse_vm_ctl, .timeout = 120);

struct seq_vm {
	struct thpvm_memmap *mem;
	struct guest g;
	struct collapse_vm *cv;
	uint64_t gpa;
};

static void seq_vm_start(struct seq_vm *s, const char *collapse)
{
	struct thpvm_collapse_config cfg;

	memset(s, 0, sizeof(*s));
	s->mem = guest_mem(GUEST_MEM, THPVM_BACKING_THP);
	guest_setup(&s->g, s->mem, "memtest", 1, 2 * MIB, A("mode=seq", "size=64M"));
	s->gpa = guest_free_gpa(&s->g);
	cr_assert_eq(collapse_vm_parse(collapse, &cfg), 0, "%s", vmm_last_error());
	cfg.interval_ms = 5;
	cr_assert_eq(vm_start(s->g.vm), 0);
	cr_assert_eq(collapse_vm_setup(s->g.vm, &cfg, &s->cv), 0, "%s", vmm_last_error());
}

static void seq_vm_finish(struct seq_vm *s)
{
	uint64_t first_bad;

	payload_request_stop(s->g.payload);
	cr_assert_eq(vm_wait(s->g.vm, test_ns(30), NULL), 0);
	cr_assert_eq(s->g.vm->exit.status, 0, "%s\n%s", s->g.vm->exit.message, guest_output(&s->g));
	cr_assert_eq(guest_result(&s->g, "pages_bad"), 0);
	cr_assert_eq(memtest_seq_verify(&s->g, 0, SEQ_BYTES, 1, &first_bad), 0, "bad page at 0x%llx",
		     (unsigned long long)first_bad);
	guest_teardown(&s->g);
	thpvm_memmap_destroy(s->mem);
}

static bool all_huge(void *arg)
{
	struct seq_vm *s = arg;
	unsigned huge, split;

	range_states(s->mem, s->gpa, SEQ_BYTES, &huge, &split);
	return huge == SEQ_EXTENTS;
}

/* The guest's writes split every extent while a sharer holds them (collapser off or paused meanwhile). */
static void split_by_guest(struct seq_vm *s, bool from_huge)
{
	struct split_watch w;
	char why[160];
	pid_t sharer;

	if (from_huge)
		cr_assert(wait_until(all_huge, s, 20000), "the guest's memory never was all HUGE");
	sharer = sharer_start(collapse_vm_collapser(s->cv));
	split_watch_start(&w, s->mem, s->gpa, SEQ_BYTES);
	cr_assert(wait_until(split_watch_all, &w, 30000), "the guest's writes did not split the extents (%s; VM: %s)",
		  split_watch_why(&w, why, sizeof(why)), vm_stop_reason_str(s->g.vm->exit.reason));
	sharer_stop(sharer);
}

/* A seq VM with a collapse thread in mode collapse, its collapse command served by a test server on tmp's socket. */
static struct ctl_server *served_seq_vm_start(struct ctl_tmp *tmp, struct seq_vm *s, const char *collapse)
{
	struct ctl_server *srv;

	ctl_tmp_make(tmp);
	srv = ctl_test_server(tmp->path, 0);
	seq_vm_start(s, collapse);
	cr_assert_eq(collapse_vm_ctl_register(srv, s->g.vm), 0);
	return srv;
}

static void served_seq_vm_finish(struct ctl_tmp *tmp, struct ctl_server *srv, struct seq_vm *s)
{
	ctl_server_destroy(srv); /* before the VM: the handler's context goes with it */
	seq_vm_finish(s);
	ctl_tmp_cleanup(tmp);
}

static json_t *collapse_call(const char *path, json_t *args, struct ctl_error *err, int *ret)
{
	json_t *result = NULL;

	*ret = ctl_call(path, "collapse", args, 10000, &result, err);
	json_decref(args);
	return result;
}

static const char *jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	cr_assert_not_null(s, "no string '%s'", key);
	return s;
}

Test(collapse_vm_ctl, the_collapse_command_shows_and_changes_the_policy_of_a_running_vm)
{
	struct ctl_error err;
	struct ctl_tmp tmp;
	struct ctl_server *srv;
	struct seq_vm s;
	json_t *r;
	int ret;

	REQUIRE_KVM();
	REQUIRE_THP();
	srv = served_seq_vm_start(&tmp, &s, "off");

	r = collapse_call(tmp.path, NULL, &err, &ret);
	cr_assert_eq(ret, 0, "%s", err.message);
	cr_assert_str_eq(jstr(r, "mode"), "off");
	cr_assert(json_is_false(json_object_get(r, "running")), "off: no thread");
	cr_assert(json_is_false(json_object_get(r, "held_for_template")));
	json_decref(r);

	split_by_guest(&s, true);
	/* to tlb at run time, with a knob: the thread starts and restores the extents the guest split */
	r = collapse_call(tmp.path, json_pack("{s:s, s:i, s:s}", "mode", "tlb", "batch", 8, "engine", "madv"), &err, &ret);
	cr_assert_eq(ret, 0, "%s", err.message);
	cr_assert_str_eq(jstr(r, "mode"), "tlb");
	cr_assert_str_eq(jstr(r, "engine"), "madv");
	cr_assert(json_is_true(json_object_get(r, "running")));
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(r, "config"), "batch_extents")), 8);
	json_decref(r);
	cr_assert(wait_until(all_huge, &s, 30000), "tlb set through the control socket collapsed nothing");

	/* balanced with a threshold given in the same request: the mode word resets, the argument wins */
	r = collapse_call(tmp.path, json_pack("{s:s, s:i}", "mode", "balanced", "private", 100), &err, &ret);
	cr_assert_eq(ret, 0, "%s", err.message);
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(r, "config"), "private_pages")), 100);
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(r, "config"), "batch_extents")), 8,
		     "knobs not named keep their values");
	json_decref(r);
	r = collapse_call(tmp.path, json_pack("{s:s}", "options", "density,private=300,rate=512"), &err, &ret);
	cr_assert_eq(ret, 0, "%s", err.message);
	cr_assert_str_eq(jstr(r, "mode"), "density");
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(r, "config"), "private_pages")), 300);
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(r, "config"), "rate_mib_s")), 512);
	json_decref(r);

	/* bad requests: an error naming the problem, the policy unchanged, the VM running */
	r = collapse_call(tmp.path, json_pack("{s:s}", "options", "tlb,batch=0"), &err, &ret);
	cr_assert_eq(ret, -ERANGE);
	cr_assert_eq(err.result, CTL_ARG_VALUE);
	cr_assert(strstr(err.message, "batch=0"), "%s", err.message);
	r = collapse_call(tmp.path, json_pack("{s:s}", "mode", "fast"), &err, &ret);
	cr_assert_eq(err.result, CTL_ARG_VALUE, "%s", err.message);
	r = collapse_call(tmp.path, json_pack("{s:i}", "private", 600), &err, &ret);
	cr_assert_eq(err.result, CTL_ARG_VALUE, "%s", err.message);
	r = collapse_call(tmp.path, json_pack("{s:i}", "speed", 1), &err, &ret);
	cr_assert_eq(err.result, CTL_UNKNOWN_ARG, "%s", err.message);
	r = collapse_call(tmp.path, json_pack("{s:s}", "private", "many"), &err, &ret);
	cr_assert_eq(err.result, CTL_ARG_TYPE, "%s", err.message);
	r = collapse_call(tmp.path, NULL, &err, &ret);
	cr_assert_eq(ret, 0);
	cr_assert_str_eq(jstr(r, "mode"), "density");
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(r, "config"), "private_pages")), 300);
	json_decref(r);

	r = collapse_call(tmp.path, json_pack("{s:s}", "mode", "off"), &err, &ret);
	cr_assert_eq(ret, 0, "%s", err.message);
	cr_assert(json_is_false(json_object_get(r, "running")), "off stops the thread");
	json_decref(r);
	cr_assert_eq(s.g.vm->exit.reason, VM_STOP_NONE);

	served_seq_vm_finish(&tmp, srv, &s);
}

/* Runs the built thpvm with the NULL-terminated arguments; returns the exit status, stdout then stderr in out. */
static int thpvm(char *out, size_t len, const char *first, ...)
{
	const struct thpvm_cmd *c;
	size_t o, e;
	va_list ap;

	va_start(ap, first);
	c = thpvm_cmd_run_va(NULL, 0, first, ap);
	va_end(ap);
	o = strlen(c->out) < len ? strlen(c->out) : len - 1;
	e = strlen(c->err) < len - o ? strlen(c->err) : len - o - 1;
	memcpy(out, c->out, o);
	memcpy(out + o, c->err, e);
	out[o + e] = '\0';
	return c->status;
}

Test(collapse_vm_ctl, thpvm_ctl_sock_collapse_mode_tlb)
{
	static char out[65536];
	struct ctl_tmp tmp;
	struct ctl_server *srv;
	struct seq_vm s;
	int st;

	REQUIRE_KVM();
	REQUIRE_THP();
	srv = served_seq_vm_start(&tmp, &s, "balanced");
	st = thpvm(out, sizeof(out), "ctl", tmp.path, "collapse", "mode=tlb", "interval_ms=10", NULL);
	cr_assert_eq(st, 0, "%s", out);
	cr_assert(strstr(out, "\"mode\": \"tlb\""), "%s", out);
	cr_assert(strstr(out, "\"interval_ms\": 10"), "%s", out);
	st = thpvm(out, sizeof(out), "ctl", tmp.path, "collapse", "batch=65", NULL);
	cr_assert_eq(st, 1, "%s", out);
	cr_assert(strstr(out, "thpvm: arg_value: "), "%s", out);
	served_seq_vm_finish(&tmp, srv, &s);
}

Test(collapse_vm_ctl, registering_needs_a_vm_with_a_collapse_thread)
{
	struct ctl_tmp tmp;
	struct ctl_server *srv;
	struct guest g;

	REQUIRE_KVM();
	ctl_tmp_make(&tmp);
	srv = ctl_test_server(tmp.path, 0);
	guest_setup(&g, NULL, "selftest", 1, 2 * MIB, NULL);
	cr_assert_null(collapse_vm_of(g.vm));
	cr_assert_eq(collapse_vm_ctl_register(srv, g.vm), -ENOENT);
	cr_assert(strstr(vmm_last_error(), "no collapse thread"), "%s", vmm_last_error());
	ctl_server_destroy(srv);
	guest_teardown(&g);
	ctl_tmp_cleanup(&tmp);
}

Test(collapse_vm_ctl, run_option_errors_name_the_option)
{
	static char out[65536];
	int st;

	st = thpvm(out, sizeof(out), "run", "--payload", "selftest", "--collapse", "sideways", NULL);
	cr_assert_eq(st, 2, "%s", out);
	cr_assert(!strncmp(out, "thpvm: run: --collapse 'sideways': collapse option 'sideways': unknown", 70), "%s", out);
	cr_assert_eq(strchr(out, '\n'), out + strlen(out) - 1, "one line: %s", out);
	st = thpvm(out, sizeof(out), "stats", "--payload", "selftest", "--collapse", "tlb,rate=-1", NULL);
	cr_assert_eq(st, 2, "%s", out);
	cr_assert(strstr(out, "--collapse 'tlb,rate=-1': collapse option 'rate=-1': expected an integer"), "%s", out);
	st = thpvm(out, sizeof(out), "run", "--payload", "selftest", "--collapse", "", NULL);
	cr_assert_eq(st, 2, "%s", out);
	cr_assert(strstr(out, "--collapse '': collapse options: empty"), "%s", out);
}

Test(collapse_vm_ctl, stats_report_the_collapse_thread)
{
	static char out[65536];
	char path[] = "/tmp/thpvm-collapse-stats-XXXXXX";
	json_error_t jerr;
	json_t *j, *c;
	int fd, st;

	REQUIRE_KVM();
	fd = mkstemp(path);
	cr_assert(fd >= 0);
	close(fd);
	kvm_test_payload_dir();
	st = thpvm(out, sizeof(out), "stats", "--payload", "memtest", "--arg", "size=16M", "--collapse",
		   "density,private=300", "--json", path, NULL);
	cr_assert_eq(st, 0, "%s", out);
	cr_assert(strstr(out, "collapse thread: mode density, engine auto, running"), "%s", out);
	cr_assert(strstr(out, "results: not_split "), "%s", out);
	j = json_load_file(path, 0, &jerr);
	unlink(path);
	cr_assert_not_null(j, "%s", jerr.text);
	c = json_object_get(j, "collapse");
	cr_assert(json_is_object(c), "vm_stats_json has the collapse thread");
	cr_assert_str_eq(jstr(c, "mode"), "density");
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(c, "config"), "private_pages")), 300);
	cr_assert(json_is_integer(json_object_get(c, "passes")));
	cr_assert(json_is_false(json_object_get(c, "file_backed")));
	json_decref(j);

	st = thpvm(out, sizeof(out), "stats", "--payload", "selftest", "--collapse", "off", NULL);
	cr_assert_eq(st, 0, "%s", out);
	cr_assert(strstr(out, "collapse thread: mode off, engine auto, not running"), "%s", out);
}

/* ---- the fork hooks, driven like the fork code drives them ---- */

static const struct vm_hooks *collapse_hooks(struct vm *vm)
{
	for (unsigned i = 0; i < vm->nr_hooks; i++)
		if (!strcmp(vm->hooks[i].name, COLLAPSE_VM_HOOKS))
			return &vm->hooks[i];
	cr_assert_fail("no collapse hooks");
	return NULL;
}

/* In the forked child: a new KVM VM over the inherited memory, the hook, then a collapser of its own at work. */
static int child_main(void *arg, int reason)
{
	struct seq_vm *s = arg;
	const struct vm_hooks *h = collapse_hooks(s->g.vm);
	struct thpvm_collapse *c;
	struct thpvm_collapse_stats st;
	volatile uint8_t *hva;
	int ret;

	vm_kvm_destroy(s->g.vm);
	if ((ret = vm_kvm_create(s->g.vm)))
		return child_fail(reason, 10, "vm_kvm_create: %s", vmm_last_error());
	if ((ret = h->fork_child(h->arg, s->g.vm, 0)))
		return child_fail(reason, 11, "fork_child: %s", vmm_last_error());
	c = collapse_vm_collapser(s->cv);
	thpvm_collapse_stats(c, &st);
	if (!st.running || st.paused || st.nr_passes > 1000 || st.config.mode != THPVM_COLLAPSE_MODE_TLB)
		return child_fail(reason, 12, "child collapser: running %d paused %d passes %llu mode %s", st.running,
				  st.paused, (unsigned long long)st.nr_passes, thpvm_collapse_mode_str(st.config.mode));
	if (collapse_vm_held(s->cv))
		return child_fail(reason, 13, "a child is not a template");
	/* one byte per extent, as a child VM's first writes: all split, then collapsed by the child's thread */
	hva = thpvm_memmap_gpa_to_hva(s->mem, s->gpa, SEQ_BYTES);
	for (uint64_t off = 0; off < SEQ_BYTES; off += 2 * MIB)
		hva[off + 4096] = hva[off + 4096];
	for (int i = 0; i < 500; i++) {
		unsigned huge = 0, split = 0;

		range_states(s->mem, s->gpa, SEQ_BYTES, &huge, &split);
		if (huge == SEQ_EXTENTS) {
			thpvm_collapse_stats(c, &st);
			if (st.nr_collapsed < SEQ_EXTENTS / 2)
				return child_fail(reason, 14, "only %llu collapsed by the child's thread",
						  (unsigned long long)st.nr_collapsed);
			_exit(0); /* the VM's vCPU threads do not exist here: no vm_destroy() */
		}
		usleep(20000);
	}
	return child_fail(reason, 15, "the child's memory was not collapsed");
}

static bool released(void *arg)
{
	return !collapse_vm_held(arg);
}

static void touch_every_extent(struct seq_vm *s)
{
	volatile uint8_t *hva = thpvm_memmap_gpa_to_hva(s->mem, s->gpa, SEQ_BYTES);

	/* rewrites a byte with its own value: only a paused guest makes that safe */
	for (uint64_t off = 0; off < SEQ_BYTES; off += 2 * MIB)
		hva[off + 8192] = hva[off + 8192];
}

Test(collapse_vm_ctl, a_template_keeps_its_collapser_paused_until_it_resumes)
{
	const struct vm_hooks *h;
	struct thpvm_collapse_stats st;
	unsigned huge, split;
	uint64_t collapsed;
	char reason[512];
	struct seq_vm s;
	pid_t sharer;
	json_t *j;
	int status;

	REQUIRE_KVM();
	REQUIRE_THP();
	seq_vm_start(&s, "tlb");
	h = collapse_hooks(s.g.vm);
	cr_assert(wait_until(all_huge, &s, 20000));

	/* fork as a template: prepare, pause, fork, and the parent stays paused */
	cr_assert_eq(h->fork_prepare(h->arg), 0);
	cr_assert_eq(vm_pause(s.g.vm), 0);
	status = run_in_child(child_main, &s, reason, sizeof(reason));
	cr_assert_eq(status, 0, "child: status %d: %s", status, reason);
	h->fork_parent(h->arg);
	cr_assert(collapse_vm_held(s.cv), "a paused template's collapser is held");
	thpvm_collapse_stats(collapse_vm_collapser(s.cv), &st);
	cr_assert(st.paused);
	j = vm_stats_json(s.g.vm);
	cr_assert(json_is_true(json_object_get(json_object_get(j, "collapse"), "held_for_template")));
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "collapse"), "forks")), 1);
	json_decref(j);

	/* the template's extents split (a sharer stands for its children): nothing is collapsed while held */
	sharer = sharer_start(NULL);
	touch_every_extent(&s);
	collapsed = st.nr_collapsed;
	usleep(500000);
	range_states(s.mem, s.gpa, SEQ_BYTES, &huge, &split);
	thpvm_collapse_stats(collapse_vm_collapser(s.cv), &st);
	cr_assert_eq(split, SEQ_EXTENTS, "a held template's extents stay split");
	cr_assert_eq(st.nr_collapsed, collapsed);

	/* a second fork of the template keeps it held */
	cr_assert_eq(h->fork_prepare(h->arg), 0);
	h->fork_parent(h->arg);
	cr_assert(collapse_vm_held(s.cv));

	/* the template resumes: the collapser is released and collapses */
	cr_assert_eq(vm_resume(s.g.vm), 0);
	cr_assert(wait_until(released, s.cv, 5000), "resuming the VM did not release the collapser");
	cr_assert(wait_until(all_huge, &s, 30000), "the released collapser did not collapse");
	thpvm_collapse_stats(collapse_vm_collapser(s.cv), &st);
	cr_assert_not(st.paused, "every pause was undone");
	sharer_stop(sharer);
	seq_vm_finish(&s);
}

Test(collapse_vm_ctl, a_resumed_parent_collapses_again_whenever_the_hook_runs)
{
	const struct vm_hooks *h;
	struct thpvm_collapse_stats st;
	struct seq_vm s;
	pid_t child;

	REQUIRE_KVM();
	REQUIRE_THP();
	seq_vm_start(&s, "tlb");
	h = collapse_hooks(s.g.vm);

	/* parent hook after the resume */
	cr_assert_eq(h->fork_prepare(h->arg), 0);
	cr_assert_eq(vm_pause(s.g.vm), 0);
	child = fork();
	if (!child)
		_exit(0);
	cr_assert_eq(vm_resume(s.g.vm), 0);
	h->fork_parent(h->arg);
	waitpid(child, NULL, 0);
	cr_assert_not(collapse_vm_held(s.cv));
	thpvm_collapse_stats(collapse_vm_collapser(s.cv), &st);
	cr_assert_not(st.paused);

	/* parent hook before the resume: held for a moment, released by the resume */
	cr_assert_eq(h->fork_prepare(h->arg), 0);
	cr_assert_eq(vm_pause(s.g.vm), 0);
	child = fork();
	if (!child)
		_exit(0);
	h->fork_parent(h->arg);
	cr_assert_eq(vm_resume(s.g.vm), 0);
	waitpid(child, NULL, 0);
	cr_assert(wait_until(released, s.cv, 5000));
	thpvm_collapse_stats(collapse_vm_collapser(s.cv), &st);
	cr_assert_not(st.paused);

	/* and it works: what the guest split while the children lived, and what it splits while the test holds it */
	cr_assert(wait_until(all_huge, &s, 30000));
	thpvm_collapse_pause(collapse_vm_collapser(s.cv));
	split_by_guest(&s, false);
	thpvm_collapse_resume(collapse_vm_collapser(s.cv));
	cr_assert(wait_until(all_huge, &s, 30000));
	seq_vm_finish(&s);
}
