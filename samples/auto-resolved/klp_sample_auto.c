// SPDX-License-Identifier: GPL-2.0
/* Uses a non-exported global variable and a non-exported function of vmlinux. Each name is
 * defined once in the kernel, so klp-convert resolves them with no annotation. */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/livepatch.h>
#include <linux/seq_file.h>

extern char *saved_command_line;	/* init/main.c, not exported */
extern int nr_processes(void);		/* kernel/fork.c, not exported */

static int livepatch_cmdline_proc_show(struct seq_file *m, void *v)
{
	seq_printf(m, "klp_sample_auto: nr_processes=%d saved_command_line=%px nr_processes@%px cmdline=[%s]\n",
		   nr_processes(), &saved_command_line, nr_processes, saved_command_line);
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
