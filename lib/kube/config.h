/* SPDX-License-Identifier: Apache-2.0 */
/* Where the Kubernetes API is and how to authenticate to it: from kubeconfig
 * files (client-go's loading and merging rules) or from the service account
 * Kubernetes mounts into every pod. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

/* Caps: a kubeconfig file, a certificate or key (decoded, or read from its
 * file), and a bearer token. */
#define SV_KUBE_CONFIG_FILE_MAX (1024 * 1024)
#define SV_KUBE_CONFIG_BLOB_MAX (256 * 1024)
#define SV_KUBE_TOKEN_MAX (64 * 1024)
/* Most files in a KUBECONFIG list. */
#define SV_KUBE_CONFIG_MAX_FILES 16

/* Every member is owned by the struct; PEM buffers are also NUL-terminated. */
typedef struct sv_kube_config {
        char *server; /* "https://host:port", no trailing slash */
        char *ca_pem; /* NULL: system trust store */
        size_t ca_pem_len;
        char *cert_pem; /* client certificate, or NULL */
        size_t cert_pem_len;
        char *key_pem; /* client key, or NULL */
        size_t key_pem_len;
        char *token;      /* bearer token, or NULL */
        char *token_file; /* re-read by sv_kube_config_reload_token, or NULL */
        bool insecure_skip_tls_verify;
} sv_kube_config;

/* Loads a kubeconfig. paths is a ':'-separated list (NULL or empty:
 * $KUBECONFIG, else $HOME/.kube/config); missing files are skipped but one
 * must exist, and every existing one must parse. For each of current-context
 * and each named context, cluster and user, the first file defining it wins.
 * context NULL or empty means current-context. Relative file references are
 * relative to the kubeconfig that holds them. The server must be https://.
 * Credential plugins (exec, auth-provider), basic auth, impersonation,
 * proxy-url and tls-server-name are refused rather than silently ignored.
 * Errors: SV_CODE_INVALID_CONFIG naming the file and key, SV_CODE_IO for an
 * unreadable file, SV_CODE_INVALID_ENV when no path can be found. */
int sv_kube_config_from_kubeconfig(const char *paths, const char *context, sv_kube_config **out,
                                   sv_error *err);

/* The pod's service account: https://$KUBERNETES_SERVICE_HOST:
 * $KUBERNETES_SERVICE_PORT, the token and CA under
 * root/var/run/secrets/kubernetes.io/serviceaccount/ (root is "" in
 * production, a test directory in tests). The token is read now and its path
 * kept for sv_kube_config_reload_token. Errors: SV_CODE_INVALID_ENV,
 * SV_CODE_IO. */
int sv_kube_config_in_cluster(const char *root, sv_kube_config **out, sv_error *err);

/* The operator's choice: kubeconfig_flag (a path list) if non-NULL, else the
 * in-cluster config if KUBERNETES_SERVICE_HOST is set, else the default
 * kubeconfig. */
int sv_kube_config_load(const char *kubeconfig_flag, sv_kube_config **out, sv_error *err);

/* Re-reads token_file (projected tokens rotate), trimming trailing
 * whitespace. On success *changed says whether the token differs. If the read
 * fails, the file is empty (-ENODATA) or holds characters a header cannot
 * carry (-EINVAL), the old token stays and the error is returned. Without a
 * token_file: 0, unchanged. */
int sv_kube_config_reload_token(sv_kube_config *cfg, bool *changed);

/* Frees cfg, wiping the key and token first. Accepts NULL; returns NULL. */
sv_kube_config *sv_kube_config_free(sv_kube_config *cfg);
DEFINE_TRIVIAL_CLEANUP_FUNC(sv_kube_config *, sv_kube_config_free)
