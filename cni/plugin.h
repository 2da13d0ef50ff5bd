/* SPDX-License-Identifier: Apache-2.0 */
/* The CNI plugin: reads the environment and stdin, runs one verb, writes the
 * result or the error JSON on stdout. Returns the process exit status. */
#pragma once

int plugin_main(void);
