// SPDX-License-Identifier: GPL-2.0
/* Like upstream's test_klp_convert_sections: one symbol referenced from several text sections
 * (once, twice), and from data through pointers. */
#include <linux/module.h>
#include <linux/kernel.h>

extern char *saved_command_line;
extern int nr_processes(void);

__section(".text.klp_a") noinline int use_a(void) { return saved_command_line[0]; }
__section(".text.klp_b") noinline int use_b(void) { return saved_command_line[1] + saved_command_line[2] + nr_processes(); }
char **p_saved_command_line = &saved_command_line;
int (*p_nr_processes)(void) = nr_processes;

static int __init t_init(void) { return use_a() + use_b() > 0 ? 0 : 0; }
module_init(t_init);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
