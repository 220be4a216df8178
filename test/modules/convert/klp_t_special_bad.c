// SPDX-License-Identifier: GPL-2.0
/* A reference to a module symbol inside __jump_table: the loader processes the table when
 * the patch loads, long before livepatch resolves overlay's symbols. Must be refused. */
#include <linux/module.h>
#include <linux/kernel.h>

extern int ovl_dir_llseek(void);

struct fake_entry { s32 code; s32 target; long key; };
static struct fake_entry entry __used __section("__jump_table") = { .key = (long)&ovl_dir_llseek };

static int __init t_init(void) { return 0; }
module_init(t_init);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
