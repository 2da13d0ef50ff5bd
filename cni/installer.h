/* SPDX-License-Identifier: Apache-2.0 */
/* `selvedge-cni install|uninstall ...`: puts the plugin into the node's CNI
 * configuration and keeps it there. Called from main() when argv[1] is one of
 * those words; returns the process exit status. */
#pragma once

int installer_main(int argc, char *argv[]);
