// SPDX-License-Identifier: GPL-2.0
/* Like the module-target sample, but says which homonym_string by its source file rather than
 * by position: positions shift when a kernel or module is rebuilt, file names rarely do.
 * The symbol map must know source files (modules built with their STT_FILE symbols). */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/livepatch.h>
#include "klp-convert.h"

extern const char homonym_string[];
extern const char *get_homonym_string(void);

KLP_FILE_RELOC(klp_sample_target) target_relocs[] = {
	KLP_SYMFILE(homonym_string, "klp_sample_target_b.c"),
	KLP_SYMFILE(get_homonym_string, "klp_sample_target_a.c"),
};

static int livepatch_show(char *buf)
{
	return sprintf(buf, "klp_sample_byfile: homonym_string@b.c=%px [%s] get_homonym_string@a.c=%px [%s]\n",
		       homonym_string, homonym_string, get_homonym_string, get_homonym_string());
}

static struct klp_func funcs[] = {
	{ .old_name = "klp_sample_target_show", .new_func = livepatch_show, },
	{ }
};

static struct klp_object objs[] = {
	{ .name = "klp_sample_target", .funcs = funcs, },
	{ }
};

static struct klp_patch patch = { .mod = THIS_MODULE, .objs = objs, };

static int livepatch_init(void)
{
	return klp_enable_patch(&patch);
}

static void livepatch_exit(void)
{
}

module_init(livepatch_init);
module_exit(livepatch_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
