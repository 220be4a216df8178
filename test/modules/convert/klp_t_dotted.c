// SPDX-License-Identifier: GPL-2.0
/* Symbols with '.' in their names, reached through asm labels (a function-local static
 * lvltxt.0, a .part.N clone): the kernel's parser allows dots in the symbol part. */
#include <linux/module.h>
#include <linux/kernel.h>

extern const char klp_lvltxt[] __asm__("lvltxt.0");
extern void klp_part(void) __asm__("ZSTD_DCtx_refDDict.part.0");

noinline unsigned long use(void) { return (unsigned long)klp_lvltxt + (unsigned long)klp_part; }

static int __init t_init(void) { return use() ? 0 : 0; }
module_init(t_init);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
