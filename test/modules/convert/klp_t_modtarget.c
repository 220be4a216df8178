// SPDX-License-Identifier: GPL-2.0
/* References into modules: a static function of overlay (unique in the kernel), and a symbol
 * ni_routing exports, which must become a livepatch relocation too, or loading the patch
 * would load ni_routing. */
#include <linux/module.h>
#include <linux/kernel.h>

extern int ovl_dir_llseek(void);
extern int ni_count_valid_routes(void);

noinline unsigned long use(void) { return (unsigned long)ovl_dir_llseek + (unsigned long)ni_count_valid_routes; }

static int __init t_init(void) { return use() ? 0 : 0; }
module_init(t_init);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
