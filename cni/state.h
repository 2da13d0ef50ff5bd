/* SPDX-License-Identifier: Apache-2.0 */
/* The node-local record of each attachment, in <stateDir>/pods/<chain>.json.
 * It is the hand-off to the node agent when the agent is not running: at start
 * the agent reads every record and meshes the pods marked "meshed": false. */
#pragma once

#include <stdbool.h>

#include "base/error.h"
#include "json/json.h"

#define STATE_RECORD_MAX (64 * 1024)

/* Creates the state directory tree (mode 0700) if missing. */
int state_prepare(const char *dir);

/* Takes the node-wide CNI lock: shared for ADD/DEL/CHECK (different pods run
 * in parallel), exclusive for GC. The lock lives until *fd is closed. */
int state_lock(const char *dir, bool exclusive, int *fd);

int state_write(const char *dir, const char *chain, json_t *record);
int state_read(const char *dir, const char *chain, json_t **out);
/* 0 when the record is already gone. */
int state_remove(const char *dir, const char *chain);
/* Calls fn with the chain name of every record. */
int state_list(const char *dir, int (*fn)(const char *chain, void *userdata), void *userdata);
