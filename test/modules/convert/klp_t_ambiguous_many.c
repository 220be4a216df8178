// SPDX-License-Identifier: GPL-2.0
/* Three names defined several times in vmlinux and one defined nowhere, none annotated:
 * klp-convert must report all four in one run. */
#include <linux/module.h>
#include <linux/kernel.h>

extern const char ucode_path[];
extern int default_attrs;
extern bool sig_enforce;
extern int no_such_symbol_anywhere;

noinline unsigned long use(void)
{
	return (unsigned long)ucode_path + (unsigned long)&default_attrs + sig_enforce + no_such_symbol_anywhere;
}

static int __init t_init(void) { return use() ? 0 : 0; }
module_init(t_init);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
