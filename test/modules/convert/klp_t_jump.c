// SPDX-License-Identifier: GPL-2.0
/* A static key of vmlinux that is not exported: its __jump_table entry gets a livepatch
 * relocation for vmlinux, which the loader applies before it processes __jump_table. */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/jump_label.h>

extern struct static_key_false tracepoint_printk_key;

noinline int use(void) { return static_branch_unlikely(&tracepoint_printk_key) ? 1 : 2; }

static int __init t_init(void) { return use() ? 0 : 0; }
module_init(t_init);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
