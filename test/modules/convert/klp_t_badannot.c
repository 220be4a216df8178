// SPDX-License-Identifier: GPL-2.0
/* Annotations the target kernel contradicts: a position past the last definition, position 0
 * for an ambiguous name, an object that does not exist. */
#include <linux/module.h>
#include <linux/kernel.h>
#include "klp-convert.h"

extern const char ucode_path[];
extern int default_attrs;
extern bool sig_enforce;

KLP_MODULE_RELOC(vmlinux) vmlinux_relocs[] = {
	KLP_SYMPOS(ucode_path, 3),
	KLP_SYMPOS(default_attrs, 0),
};
KLP_MODULE_RELOC(no_such_module) other_relocs[] = {
	KLP_SYMPOS(sig_enforce, 1),
};

noinline unsigned long use(void) { return (unsigned long)ucode_path + (unsigned long)&default_attrs + sig_enforce; }

static int __init t_init(void) { return use() ? 0 : 0; }
module_init(t_init);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
