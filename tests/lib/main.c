/* SPDX-License-Identifier: MIT */
/*
 * main() of every Criterion test binary (it replaces libcriterion's weak
 * one): Criterion's own steps, with every suite's and test's time limit
 * multiplied by THPVM_TEST_TIME_SCALE first. The nested lab runs the KVM
 * suite under QEMU TCG, several times slower than a host; its L1 sets the
 * scale (tests/lab/l1/init), so the limits stay tight on real hosts.
 * Criterion's own --timeout can only lower a limit.
 */
#include <criterion/criterion.h>
#include <criterion/internal/ordered-set.h>
#include "helpers.h"

static void scale_limit(struct criterion_test_extra_data *data, double scale)
{
	if (data && data->timeout > 0)
		data->timeout *= scale;
}

int main(int argc, char *argv[])
{
	struct criterion_test_set *set = criterion_initialize();
	double scale = test_time_scale();
	int ret = 0;

	for (struct criterion_ordered_set_node *sn = scale != 1 ? set->suites->first : NULL; sn; sn = sn->next) {
		struct criterion_suite_set *s = (void *)(sn + 1);

		scale_limit(s->suite.data, scale);
		for (struct criterion_ordered_set_node *tn = s->tests ? s->tests->first : NULL; tn; tn = tn->next)
			scale_limit(((struct criterion_test *)(void *)(tn + 1))->data, scale);
	}
	if (criterion_handle_args(argc, argv, true))
		ret = !criterion_run_all_tests(set);
	criterion_finalize(set);
	return ret;
}
