#include <criterion/criterion.h>
Test(ctl, placeholder_cli) { cr_skip_test("not written yet"); }
