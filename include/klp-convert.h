/* SPDX-License-Identifier: GPL-2.0 */
/*
 * klp-convert annotations: tell klp-convert which of several same-named kernel symbols a
 * livepatch means. klp-convert reads these arrays, turns the references into livepatch
 * relocations, and removes the arrays from the module it writes.
 *
 * By position, exactly as the upstream klp-convert series lays them out:
 *
 *	extern char *ucode_path;
 *	KLP_MODULE_RELOC(vmlinux) vmlinux_relocs[] = {
 *		KLP_SYMPOS(ucode_path, 2),
 *	};
 *
 * Positions count same-named symbols of the object in kallsyms order, from 1; 0 means "unique".
 * 'klp-convert convert' lists the candidates when a name is ambiguous.
 *
 * By source file, which survives kernel rebuilds better than a position:
 *
 *	KLP_FILE_RELOC(vmlinux) vmlinux_file_relocs[] = {
 *		KLP_SYMFILE(ucode_path, "arch/x86/kernel/cpu/microcode/amd.c"),
 *	};
 *
 * The file is matched against the STT_FILE names of the symbol map (whole path, or a trailing
 * part of it after a '/'), so the map must come from objects that have them.
 *
 * Only annotate symbols the livepatch declares extern: a symbol defined in the livepatch itself is
 * not a kernel symbol. Symbols with characters C cannot spell (foo.isra.0, var.123) are reached
 * with an asm label:  extern char klp_var __asm__("var.123");
 */
#ifndef _KLP_CONVERT_H
#define _KLP_CONVERT_H

#include <linux/types.h>
#include <linux/compiler.h>

/* 12 bytes on every architecture: the pointer is widened to 64 bits. */
struct klp_module_reloc {
	union {
		void *sym;
		__u64 sym64;
	};
	__u32 sympos;
} __packed;

#define KLP_FILE_RELOC_NAME_MAX 120

/* 128 bytes on every architecture. */
struct klp_file_reloc {
	union {
		void *sym;
		__u64 sym64;
	};
	char file[KLP_FILE_RELOC_NAME_MAX];
} __packed;

#ifndef KLP_MODULE_RELOC
#define KLP_MODULE_RELOC(obj) \
	struct klp_module_reloc __used __section(".klp.module_relocs." #obj) __aligned(4)
#define KLP_SYMPOS(symbol, pos) { .sym = (void *)&symbol, .sympos = pos, }
#endif

#define KLP_FILE_RELOC(obj) \
	struct klp_file_reloc __used __section(".klp.file_relocs." #obj) __aligned(4)
#define KLP_SYMFILE(symbol, path) { .sym = (void *)&symbol, .file = path, }

#endif /* _KLP_CONVERT_H */
