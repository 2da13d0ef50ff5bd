/* SPDX-License-Identifier: Apache-2.0 */
/* The pure JSON side of the installer: which file in a CNI configuration
 * directory is the primary one, and how selvedge-cni's entry is added to,
 * updated in or removed from a network configuration list. No file I/O here,
 * so every rule is unit-testable. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"
#include "json/json.h"

/* The plugin's "type", which is also the binary's name in the CNI bin dir. */
#define SV_CNI_TYPE "selvedge-cni"

/* Caps: real configuration files are a few KiB with a handful of plugins. */
#define SV_CNI_CONFIG_MAX_BYTES (1024 * 1024)
#define SV_CNI_CONFIG_MAX_PLUGINS 128
#define SV_CNI_PATH_MAX 1024

/* The options of our entry in "plugins". Strings are borrowed. */
typedef struct sv_cni_entry {
        const char *failure_policy; /* "Fail" or "Ignore" */
        const char *agent_socket;   /* absolute path on the node */
        const char *state_dir;      /* absolute path on the node */
} sv_cni_entry;

/* Checks the options: a known failure policy, absolute paths of sane length.
 * -EINVAL with SV_CODE_INVALID_CONFIG otherwise. */
int sv_cni_entry_validate(const sv_cni_entry *e, sv_error *err);

/* Whether a directory entry's name is a network configuration as libcni sees
 * one: ends in .conflist, .conf or .json. Hidden files (which includes editor
 * and tool scratch files) are left out. */
bool sv_cni_is_config_name(const char *name);

/* Whether the name holds a list (.conflist); .conf and .json hold one plugin. */
bool sv_cni_is_conflist_name(const char *name);

/* The index of the primary configuration among names: the first config name in
 * byte order, which is how libcni (and so containerd and CRI-O) choose.
 * -ENOENT when there is none. */
int sv_cni_pick_primary(const char *const *names, size_t n);

/* "10-bridge.conf" or "10-bridge.json" -> "10-bridge.conflist" (a new heap
 * string in *out). -EINVAL if name is not a single-plugin config name. */
int sv_cni_conflist_name_for(const char *name, char **out);

/* Parses and checks a network configuration list: an object with a "name", a
 * non-empty "plugins" list whose items are objects with a "type". */
int sv_conflist_parse(const char *buf, size_t len, json_t **out, sv_error *err);

/* Parses and checks a single-plugin configuration (.conf): an object with a
 * "name" and a "type". */
int sv_cni_conf_parse(const char *buf, size_t len, json_t **out, sv_error *err);

/* Builds the list libcni would make of a single-plugin conf:
 * {"cniVersion", "name", "plugins": [conf without cniVersion and name]}. */
int sv_conflist_from_conf(json_t *conf, json_t **out, sv_error *err);

/* The index of the first selvedge-cni entry in list's "plugins", or -ENOENT. */
int sv_conflist_find_entry(json_t *list);

/* Makes list hold exactly one selvedge-cni entry, last, with e's options.
 * Returns 1 when list was changed, 0 when it already was so (nothing to
 * write), or -errno. Other plugins are left untouched and in order. */
int sv_conflist_set_entry(json_t *list, const sv_cni_entry *e, sv_error *err);

/* Removes every selvedge-cni entry; returns how many were removed. */
int sv_conflist_remove_entry(json_t *list);

/* Serialises as the file is written: 2-space indents, member order kept, a
 * final newline. *out is a heap buffer of *len bytes (NUL-terminated). */
int sv_conflist_dump(json_t *list, char **out, size_t *len);
