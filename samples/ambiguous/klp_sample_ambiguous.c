// SPDX-License-Identifier: GPL-2.0
/* The same reference as the annotated sample, without the annotation: ucode_path is defined
 * twice in vmlinux, so klp-convert refuses it and lists both candidates. */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/livepatch.h>
#include <linux/seq_file.h>

extern const char ucode_path[];

static int livepatch_cmdline_proc_show(struct seq_file *m, void *v)
{
	seq_printf(m, "klp_sample_ambiguous: ucode_path=%px %s\n", ucode_path, ucode_path);
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
