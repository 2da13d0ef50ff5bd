/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzzes kubeconfig loading (libyaml, the merge lookups, base64 and path
 * resolution) on a file in a private directory, and the base64 decoder on the
 * raw bytes. */
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base64.h"
#include "base/fileio.h"
#include "kube/config.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[] = "/tmp/sv-fuzz-kubeconfig-XXXXXX";
static char path[sizeof(dir) + 16];

static void remove_dir(void) {
        (void)unlink(path);
        (void)rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        /* Relative references in the input resolve inside this directory, and
         * a reference to /dev/stdin must not block on a terminal. */
        if (!mkdtemp(dir))
                abort();
        (void)snprintf(path, sizeof(path), "%s/config", dir);
        atexit(remove_dir);
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0 || dup2(fd, 0) < 0)
                abort();
        if (fd != 0)
                close(fd);
        return 0;
}

static void check_config(const sv_kube_config *cfg) {
        if (!cfg->server || strncmp(cfg->server, "https://", 8) != 0 ||
            cfg->server[strlen(cfg->server) - 1] == '/')
                __builtin_trap();
        if (cfg->ca_pem && (cfg->ca_pem_len == 0 || cfg->ca_pem_len > SV_KUBE_CONFIG_BLOB_MAX ||
                            cfg->ca_pem[cfg->ca_pem_len] != '\0'))
                __builtin_trap();
        if (!cfg->cert_pem != !cfg->key_pem)
                __builtin_trap();
        if (cfg->insecure_skip_tls_verify && cfg->ca_pem)
                __builtin_trap();
        /* The token goes into an HTTP header. */
        for (const char *t = cfg->token; t && *t; t++)
                if ((unsigned char)*t <= 0x20 || (unsigned char)*t >= 0x7f)
                        __builtin_trap();
}

static void fuzz_base64(const uint8_t *data, size_t size) {
        char *out = (char *)0x1;
        size_t len = 0;
        int r = sv_base64_decode((const char *)data, size, 4096, &out, &len);
        if (r < 0) {
                if ((r != -EINVAL && r != -E2BIG) || out != (char *)0x1)
                        __builtin_trap();
                return;
        }
        size_t n = size > 0 && data[size - 1] == '\n' ? size - 1 : size;
        size_t pad = n > 0 && data[n - 1] == '=' ? (n > 1 && data[n - 2] == '=' ? 2 : 1) : 0;
        if (n % 4 != 0 || len != n / 4 * 3 - pad || len > 4096 || out[len] != '\0')
                __builtin_trap();
        free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        fuzz_base64(data, size);

        /* No fsync: sv_write_file_atomic would make every run a disk flush. */
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || sv_write_all(fd, data, size) < 0)
                abort();
        close(fd);
        const char *contexts[] = {NULL, "fuzz"};
        for (size_t i = 0; i < 2; i++) {
                sv_kube_config *cfg = NULL;
                sv_error err = SV_ERROR_INIT;
                int r = sv_kube_config_from_kubeconfig(path, contexts[i], &cfg, &err);
                if (r == 0) {
                        check_config(cfg);
                        bool changed;
                        (void)sv_kube_config_reload_token(cfg, &changed);
                        sv_kube_config_free(cfg);
                } else if (r == -ENOMEM) {
                        continue;
                } else if (!sv_error_is_set(&err) || cfg) {
                        /* Every other failure must say why. */
                        __builtin_trap();
                }
        }
        return 0;
}
