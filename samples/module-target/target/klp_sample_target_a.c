// SPDX-License-Identifier: GPL-2.0
/* A module for livepatches to patch. Its two files define the same static names, so a livepatch
 * that uses them must say which: position (KLP_SYMPOS) or source file (KLP_SYMFILE). Reading
 * /sys/module/klp_sample_target/parameters/show calls klp_sample_target_show(). */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/moduleparam.h>

static const char homonym_string[] = "homonym string A";

static noinline const char *get_homonym_string(void)
{
	return homonym_string;
}

/* Global but not exported: only a livepatch relocation reaches it from outside. */
noinline int klp_sample_target_show(char *buf)
{
	return sprintf(buf, "klp_sample_target: unpatched, %s\n", get_homonym_string());
}

static int show_get(char *buf, const struct kernel_param *kp)
{
	return klp_sample_target_show(buf);
}

static const struct kernel_param_ops show_ops = { .get = show_get };
module_param_cb(show, &show_ops, NULL, 0444);

const char *klp_sample_target_b(void);

static int __init klp_sample_target_init(void)
{
	pr_info("klp_sample_target: loaded (%s, %s)\n", get_homonym_string(), klp_sample_target_b());
	return 0;
}

static void __exit klp_sample_target_exit(void)
{
}

module_init(klp_sample_target_init);
module_exit(klp_sample_target_exit);
MODULE_LICENSE("GPL");
