/* SPDX-License-Identifier: Apache-2.0 */
/* Running a piece of work inside another network namespace. The caller must be
 * single-threaded: setns() switches only the calling thread. */
#pragma once

/* Enters the namespace at path, runs fn(userdata), and returns to the original
 * namespace. Returns fn's result, -ENOENT when path does not exist, or the
 * setns error. Aborts if the way back fails: continuing in the wrong
 * namespace would program the wrong node. */
int sv_netns_run(const char *path, int (*fn)(void *userdata), void *userdata);
