// SPDX-License-Identifier: GPL-2.0
/*
 * Thirteen references the module loader cannot resolve (modpost reports 10 and suppresses the
 * rest), twelve of them to vmlinux statics whose names end in .<digits>, which modpost reports
 * without the suffix, and one to the global nr_threads, which klp_t_many_static.c also defines as
 * a static of the module.
 */
#include <linux/module.h>

extern char nhm_magic_1[] __asm__("nhm_magic.1");
extern char idt_0[] __asm__("idt.0");
extern char acpi_shutdown_map_0[] __asm__("acpi_shutdown_map.0");
extern char error_interrupt_reason_0[] __asm__("error_interrupt_reason.0");
extern char lvltxt_0[] __asm__("lvltxt.0");
extern char level_name_0[] __asm__("level_name.0");
extern char units_1[] __asm__("units.1");
extern char dummy_vm_ops_252[] __asm__("dummy_vm_ops.252");
extern char offsets_67[] __asm__("offsets.67");
extern char param_1[] __asm__("param.1");
extern char state_char_434[] __asm__("state_char.434");
extern char flags_424[] __asm__("__flags.424");
extern int nr_threads;

const void *klp_t_many_refs[] = {
	nhm_magic_1, idt_0, acpi_shutdown_map_0, error_interrupt_reason_0, lvltxt_0, level_name_0,
	units_1, dummy_vm_ops_252, offsets_67, param_1, state_char_434, flags_424,
};

int klp_t_many_threads(void)
{
	return nr_threads;
}

MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
