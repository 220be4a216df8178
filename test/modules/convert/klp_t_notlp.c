// SPDX-License-Identifier: GPL-2.0
/* Uses a non-exported symbol but forgot MODULE_INFO(livepatch, "Y"). */
#include <linux/module.h>
#include <linux/kernel.h>

extern char *saved_command_line;

static int __init t_init(void)
{
	pr_info("%s\n", saved_command_line);
	return 0;
}
module_init(t_init);
MODULE_LICENSE("GPL");
