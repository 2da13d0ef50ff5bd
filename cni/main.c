/* SPDX-License-Identifier: Apache-2.0 */
/* selvedge-cni: with CNI_COMMAND set it is the chained CNI plugin; with
 * `install` or `uninstall` as its first argument it is the node installer that
 * the chart's DaemonSet runs. */
#include <string.h>

#include "cni/installer.h"
#include "cni/plugin.h"

int main(int argc, char *argv[]) {
        if (argc > 1 && (strcmp(argv[1], "install") == 0 || strcmp(argv[1], "uninstall") == 0))
                return installer_main(argc, argv);
        return plugin_main();
}
