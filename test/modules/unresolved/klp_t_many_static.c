// SPDX-License-Identifier: GPL-2.0
/* A static of the module with the name of the vmlinux global klp_t_many_refs.c refers to. */
static int nr_threads = 1;

int klp_t_many_local(void)
{
	return nr_threads++;
}
