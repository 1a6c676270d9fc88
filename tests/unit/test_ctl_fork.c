#include <criterion/criterion.h>
Test(ctl, placeholder_fork) { cr_skip_test("not written yet"); }
