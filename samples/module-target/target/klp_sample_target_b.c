// SPDX-License-Identifier: GPL-2.0
#include <linux/kernel.h>

static const char homonym_string[] = "homonym string B";

static noinline const char *get_homonym_string(void)
{
	return homonym_string;
}

const char *klp_sample_target_b(void)
{
	return get_homonym_string();
}
