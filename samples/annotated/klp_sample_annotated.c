// SPDX-License-Identifier: GPL-2.0
/* ucode_path is a static array defined twice in vmlinux (microcode/intel.c and microcode/amd.c).
 * The annotation says which: position 2 in kallsyms order, the AMD one. */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/livepatch.h>
#include <linux/seq_file.h>
#include "klp-convert.h"

extern const char ucode_path[];

KLP_MODULE_RELOC(vmlinux) vmlinux_relocs[] = {
	KLP_SYMPOS(ucode_path, 2),
};

static int livepatch_cmdline_proc_show(struct seq_file *m, void *v)
{
	seq_printf(m, "klp_sample_annotated: ucode_path=%px %s\n", ucode_path, ucode_path);
	return 0;
}

static struct klp_func funcs[] = {
	{ .old_name = "cmdline_proc_show", .new_func = livepatch_cmdline_proc_show, },
	{ }
};

static struct klp_object objs[] = { { .funcs = funcs, }, { } };
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
