// SPDX-License-Identifier: GPL-2.0
/* Patches a function of a module (samples/module-target/target) and uses that module's static
 * symbols. The livepatch relocations go to .klp.rela.klp_sample_target.*: the kernel applies them
 * when the module is loaded, before or after this patch. */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/livepatch.h>
#include "klp-convert.h"

extern const char homonym_string[];
extern const char *get_homonym_string(void);

KLP_MODULE_RELOC(klp_sample_target) target_relocs[] = {
	KLP_SYMPOS(homonym_string, 2),
	KLP_SYMPOS(get_homonym_string, 1),
};

static int livepatch_show(char *buf)
{
	return sprintf(buf, "klp_sample_modpatch: homonym_string,2=%px [%s] get_homonym_string,1=%px [%s]\n",
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
