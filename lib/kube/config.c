/* SPDX-License-Identifier: Apache-2.0 */
#include "kube/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "base/base64.h"
#include "base/fileio.h"
#include "base/hashmap.h"
#include "base/parse.h"

#define SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"
#define SERVER_MAX 2048
#define ENTRY_NAME_MAX 1024
/* Deepest YAML nesting accepted; a kubeconfig needs about 6. */
#define MAX_DEPTH 64
/* Most YAML nodes accepted: libyaml spends ~160 bytes on each, so 1 MiB of
 * "[1,1,...]" would take 80 MB; a kubeconfig with 1000 contexts needs ~20k. */
#define MAX_NODES 100000
/* Mapping pairs looked at per loaded file. Aliases let a small file make the
 * same large mapping appear many times; real kubeconfigs need far fewer. */
#define PAIR_BUDGET (1u << 22)

/* asprintf that leaves *out alone on failure (asprintf leaves it undefined). */
static int xasprintf(char **out, const char *fmt, ...) _printf_(2, 3);
static int xasprintf(char **out, const char *fmt, ...) {
        char *p = NULL;
        va_list ap;
        va_start(ap, fmt);
        int n = vasprintf(&p, fmt, ap);
        va_end(ap);
        if (n < 0)
                return -ENOMEM;
        *out = p;
        return 0;
}

/* ---- the list of files ---- */

typedef struct path_list {
        char *paths[SV_KUBE_CONFIG_MAX_FILES];
        size_t n;
        char *display; /* the whole list, for messages */
} path_list;

static void path_list_done(path_list *l) {
        for (size_t i = 0; i < l->n; i++)
                free(l->paths[i]);
        free(l->display);
        *l = (path_list){0};
}

static int path_list_parse(const char *paths, path_list *out, sv_error *err) {
        _cleanup_free_ char *home_config = NULL;
        const char *src = paths && *paths ? paths : getenv("KUBECONFIG");
        if (!src || !*src) {
                const char *home = getenv("HOME");
                if (!home || !*home)
                        return sv_errorf(err, -ENOENT, SV_CODE_INVALID_ENV,
                                         "no kubeconfig: neither $KUBECONFIG nor $HOME is set");
                if (xasprintf(&home_config, "%s/.kube/config", home) < 0)
                        return -ENOMEM;
                src = home_config;
        }

        path_list l = {0};
        l.display = strdup(src);
        if (!l.display)
                return -ENOMEM;
        for (const char *p = src; *p;) {
                const char *end = strchrnul(p, ':');
                size_t n = (size_t)(end - p);
                const char *next = *end ? end + 1 : end;
                bool dup = n == 0; /* "a::b" has an empty entry, skipped */
                for (size_t i = 0; i < l.n && !dup; i++)
                        dup = strncmp(l.paths[i], p, n) == 0 && l.paths[i][n] == '\0';
                if (dup) {
                        p = next;
                        continue;
                }
                int r = 0;
                if (n >= PATH_MAX)
                        r = sv_errorf(err, -ENAMETOOLONG, SV_CODE_INVALID_CONFIG,
                                      "kubeconfig list has a path longer than %d bytes", PATH_MAX);
                else if (l.n == SV_KUBE_CONFIG_MAX_FILES)
                        r = sv_errorf(err, -E2BIG, SV_CODE_INVALID_CONFIG,
                                      "kubeconfig list names more than %d files",
                                      SV_KUBE_CONFIG_MAX_FILES);
                else if (!(l.paths[l.n] = strndup(p, n)))
                        r = -ENOMEM;
                if (r < 0) {
                        path_list_done(&l);
                        return r;
                }
                l.n++;
                p = next;
        }
        if (l.n == 0) {
                int r = sv_errorf(err, -ENOENT, SV_CODE_INVALID_CONFIG,
                                  "kubeconfig list \"%s\" names no file", l.display);
                path_list_done(&l);
                return r;
        }
        *out = l;
        return 0;
}

/* ref as named in the kubeconfig file: relative paths are relative to the
 * file's directory. The result is absolute, since a token file is re-read
 * long after loading, when the working directory may differ. */
static int resolve_path(const char *file, const char *ref, char **out) {
        char cwd[PATH_MAX] = "";
        if (ref[0] != '/' && file[0] != '/' && !getcwd(cwd, sizeof(cwd)))
                return negative_errno();
        const char *slash = ref[0] == '/' ? NULL : strrchr(file, '/');
        int dirlen = slash ? (int)(slash - file) : 0;
        char buf[PATH_MAX];
        int n = snprintf(buf, sizeof(buf), "%s%s%.*s%s%s", cwd, *cwd ? "/" : "", dirlen, file,
                         slash ? "/" : "", ref);
        if (n < 0 || (size_t)n >= sizeof(buf))
                return -ENAMETOOLONG;
        char *p = strdup(buf);
        if (!p)
                return -ENOMEM;
        *out = p;
        return 0;
}

/* ---- one parsed file ---- */

enum kind { KIND_CONTEXT, KIND_CLUSTER, KIND_USER, KIND_COUNT };

static const struct {
        const char *list;  /* top-level key */
        const char *field; /* the item's body */
} kinds[KIND_COUNT] = {
        [KIND_CONTEXT] = {"contexts", "context"},
        [KIND_CLUSTER] = {"clusters", "cluster"},
        [KIND_USER] = {"users", "user"},
};

typedef struct kc_doc {
        const char *path;
        yaml_document_t doc;
        bool loaded;
        yaml_node_t *root;             /* a mapping, or NULL for an empty file */
        sv_hashmap *index[KIND_COUNT]; /* name -> the list item (a mapping) */
        size_t budget;                 /* pairs left to look at */
} kc_doc;

static void kc_doc_done(kc_doc *d) {
        for (size_t k = 0; k < KIND_COUNT; k++)
                sv_hashmap_free(d->index[k]);
        if (d->loaded)
                yaml_document_delete(&d->doc);
        *d = (kc_doc){0};
}

/* YAML's null: absent, or a plain ~, null, Null, NULL or nothing. */
static bool node_is_null(const yaml_node_t *n) {
        if (!n)
                return true;
        if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
                return false;
        const char *v = (const char *)n->data.scalar.value;
        return n->data.scalar.length == 0 || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
               strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

/* The value of key in map: 0, -ENOENT if absent, -EINVAL if the key appears
 * twice (ambiguous, so refused as the JSON layer refuses it), -E2BIG when the
 * file's budget is spent. */
static int map_get(kc_doc *d, yaml_node_t *map, const char *key, yaml_node_t **out) {
        if (!map || map->type != YAML_MAPPING_NODE)
                return -ENOENT;
        size_t klen = strlen(key);
        yaml_node_t *found = NULL;
        for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
             p++) {
                if (d->budget == 0)
                        return -E2BIG;
                d->budget--;
                yaml_node_t *k = yaml_document_get_node(&d->doc, p->key);
                if (!k || k->type != YAML_SCALAR_NODE || k->data.scalar.length != klen ||
                    memcmp(k->data.scalar.value, key, klen) != 0)
                        continue;
                if (found)
                        return -EINVAL;
                found = yaml_document_get_node(&d->doc, p->value);
                if (!found)
                        return -EINVAL;
        }
        if (!found)
                return -ENOENT;
        *out = found;
        return 0;
}

/* Where a value sits, for messages: the file and, say, `cluster "prod"`. */
typedef struct where {
        const char *file;
        const char *what;
} where;

static int fail(sv_error *err, int r, const where *w, const char *fmt, ...) _printf_(4, 5);
static int fail(sv_error *err, int r, const where *w, const char *fmt, ...) {
        char msg[SV_ERROR_MESSAGE_MAX];
        va_list ap;
        va_start(ap, fmt);
        (void)vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        return sv_errorf(err, r, SV_CODE_INVALID_CONFIG, "kubeconfig %s: %s%s%s", w->file,
                         w->what ? w->what : "", w->what ? ": " : "", msg);
}

static int lookup(kc_doc *d, const where *w, yaml_node_t *map, const char *key, yaml_node_t **out,
                  sv_error *err) {
        int r = map_get(d, map, key, out);
        if (r == -EINVAL)
                return fail(err, r, w, "\"%s\" appears more than once", key);
        if (r == -E2BIG)
                return fail(err, -EINVAL, w, "too many aliased mappings to look through");
        return r;
}

/* A string member: 0, -ENOENT when absent, null or empty (client-go treats
 * "" as unset), or an error recorded. */
static int get_string(kc_doc *d, const where *w, yaml_node_t *map, const char *key, size_t max,
                      const char **out, sv_error *err) {
        yaml_node_t *n = NULL;
        int r = lookup(d, w, map, key, &n, err);
        if (r < 0)
                return r;
        if (node_is_null(n))
                return -ENOENT;
        if (n->type != YAML_SCALAR_NODE)
                return fail(err, -EINVAL, w, "\"%s\" must be a string", key);
        size_t len = n->data.scalar.length;
        const char *v = (const char *)n->data.scalar.value;
        if (len > max)
                return fail(err, -EINVAL, w, "\"%s\" is longer than %zu bytes", key, max);
        if (strlen(v) != len)
                return fail(err, -EINVAL, w, "\"%s\" contains a NUL character", key);
        if (len == 0)
                return -ENOENT;
        *out = v;
        return 0;
}

/* A boolean member, spelled as YAML 1.1 (which client-go's parser speaks). */
static int get_bool(kc_doc *d, const where *w, yaml_node_t *map, const char *key, bool *out,
                    sv_error *err) {
        static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "YES",
                                          "on",   "On",   "ON",   "y",   "Y"};
        static const char *const no[] = {"false", "False", "FALSE", "no", "No", "NO",
                                         "off",   "Off",   "OFF",   "n",  "N"};
        yaml_node_t *n = NULL;
        int r = lookup(d, w, map, key, &n, err);
        if (r < 0)
                return r;
        if (node_is_null(n))
                return -ENOENT;
        if (n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
                const char *v = (const char *)n->data.scalar.value;
                for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
                        if (strcmp(v, yes[i]) == 0) {
                                *out = true;
                                return 0;
                        }
                        if (strcmp(v, no[i]) == 0) {
                                *out = false;
                                return 0;
                        }
                }
        }
        return fail(err, -EINVAL, w, "\"%s\" must be true or false", key);
}

/* Builds d->index[k]: the list must be a sequence of mappings, each with a
 * distinct name (client-go refuses duplicates too). */
static int index_list(kc_doc *d, enum kind k, sv_error *err) {
        const where top = {.file = d->path};
        yaml_node_t *seq = NULL;
        int r = lookup(d, &top, d->root, kinds[k].list, &seq, err);
        if (r < 0 && r != -ENOENT)
                return r;
        if (sv_hashmap_new(&d->index[k]) < 0)
                return -ENOMEM;
        if (node_is_null(seq))
                return 0;
        if (seq->type != YAML_SEQUENCE_NODE)
                return fail(err, -EINVAL, &top, "\"%s\" must be a list", kinds[k].list);

        size_t i = 0;
        for (yaml_node_item_t *it = seq->data.sequence.items.start;
             it < seq->data.sequence.items.top; it++, i++) {
                yaml_node_t *item = yaml_document_get_node(&d->doc, *it);
                char what[64];
                (void)snprintf(what, sizeof(what), "%s[%zu]", kinds[k].list, i);
                const where w = {.file = d->path, .what = what};
                if (!item || item->type != YAML_MAPPING_NODE)
                        return fail(err, -EINVAL, &w, "must be a mapping");
                const char *name = NULL;
                r = get_string(d, &w, item, "name", ENTRY_NAME_MAX, &name, err);
                if (r == -ENOENT)
                        return fail(err, -EINVAL, &w, "has no \"name\"");
                if (r < 0)
                        return r;
                r = sv_hashmap_put(d->index[k], name, item, NULL);
                if (r == 1)
                        return fail(err, -EINVAL, &top, "%s \"%s\" is defined twice",
                                    kinds[k].field, name);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int yaml_error(yaml_parser_t *parser, const char *path, sv_error *err) {
        if (parser->error == YAML_MEMORY_ERROR)
                return -ENOMEM;
        return sv_errorf(err, -EINVAL, SV_CODE_INVALID_CONFIG,
                         "kubeconfig %s: invalid YAML at line %zu column %zu: %s", path,
                         parser->problem_mark.line + 1, parser->problem_mark.column + 1,
                         parser->problem ? parser->problem : "unknown error");
}

/* libyaml 0.2.5 has no nesting limit, and its scanner works in proportion to
 * the flow depth on every token: a 1 MiB file of '[' takes minutes. A first
 * pass over the events refuses deep nesting, and more nodes than MAX_NODES,
 * before the document is built. */
static int check_shape(const char *buf, size_t len, const char *path, sv_error *err) {
        yaml_parser_t parser;
        if (!yaml_parser_initialize(&parser))
                return -ENOMEM;
        yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
        int r = 0;
        for (unsigned depth = 0, nodes = 0;;) {
                yaml_event_t e;
                if (!yaml_parser_parse(&parser, &e)) {
                        r = yaml_error(&parser, path, err);
                        break;
                }
                yaml_event_type_t t = e.type;
                yaml_event_delete(&e);
                if ((t == YAML_SCALAR_EVENT || t == YAML_ALIAS_EVENT ||
                     t == YAML_SEQUENCE_START_EVENT || t == YAML_MAPPING_START_EVENT) &&
                    ++nodes > MAX_NODES) {
                        r = sv_errorf(err, -EINVAL, SV_CODE_INVALID_CONFIG,
                                      "kubeconfig %s: more than %d YAML nodes", path, MAX_NODES);
                        break;
                }
                if (t == YAML_SEQUENCE_START_EVENT || t == YAML_MAPPING_START_EVENT) {
                        if (++depth > MAX_DEPTH) {
                                r = sv_errorf(err, -EINVAL, SV_CODE_INVALID_CONFIG,
                                              "kubeconfig %s: nested deeper than %d levels", path,
                                              MAX_DEPTH);
                                break;
                        }
                } else if (t == YAML_SEQUENCE_END_EVENT || t == YAML_MAPPING_END_EVENT) {
                        depth--;
                } else if (t == YAML_DOCUMENT_END_EVENT || t == YAML_STREAM_END_EVENT) {
                        break; /* the loader reads the first document only */
                }
        }
        yaml_parser_delete(&parser);
        return r;
}

/* Loads path into d: 1, or 0 if the file does not exist. */
static int kc_doc_load(kc_doc *d, const char *path, sv_error *err) {
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        int r = sv_read_file_capped(path, SV_KUBE_CONFIG_FILE_MAX, &buf, &len);
        if (r == -ENOENT)
                return 0;
        if (r == -EFBIG)
                return sv_errorf(err, r, SV_CODE_INVALID_CONFIG,
                                 "kubeconfig %s: larger than %d bytes", path,
                                 SV_KUBE_CONFIG_FILE_MAX);
        if (r < 0)
                return sv_errorf(err, r, SV_CODE_IO, "kubeconfig %s: %s", path, strerror(-r));

        r = check_shape(buf, len, path, err);
        if (r < 0)
                return r;
        yaml_parser_t parser;
        if (!yaml_parser_initialize(&parser))
                return -ENOMEM;
        yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
        /* Only the first document counts, as in client-go. */
        if (!yaml_parser_load(&parser, &d->doc)) {
                r = yaml_error(&parser, path, err);
                yaml_parser_delete(&parser);
                return r;
        }
        yaml_parser_delete(&parser);
        d->loaded = true;
        d->path = path;
        d->budget = PAIR_BUDGET;

        yaml_node_t *root = yaml_document_get_root_node(&d->doc);
        if (!node_is_null(root) && root->type != YAML_MAPPING_NODE)
                return sv_errorf(err, -EINVAL, SV_CODE_INVALID_CONFIG,
                                 "kubeconfig %s: must be a YAML mapping", path);
        d->root = node_is_null(root) ? NULL : root;

        const char *cc;
        const where top = {.file = path};
        r = get_string(d, &top, d->root, "current-context", ENTRY_NAME_MAX, &cc, err);
        if (r < 0 && r != -ENOENT)
                return r;
        for (size_t k = 0; k < KIND_COUNT; k++)
                if ((r = index_list(d, (enum kind)k, err)) < 0)
                        return r;
        return 1;
}

/* ---- reading the entries ---- */

/* Bytes a bearer token may hold: it goes into an HTTP header, where a space,
 * CR or LF would end it or smuggle another header. */
static bool token_valid(const char *t, size_t len) {
        for (size_t i = 0; i < len; i++)
                if ((unsigned char)t[i] <= 0x20 || (unsigned char)t[i] >= 0x7f)
                        return false;
        return len > 0;
}

static int read_token_file(const char *path, char **out) {
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        int r = sv_read_file_capped(path, SV_KUBE_TOKEN_MAX, &buf, &len);
        if (r < 0)
                return r;
        while (len > 0 && isspace((unsigned char)buf[len - 1]))
                buf[--len] = '\0';
        if (len == 0)
                return -ENODATA;
        if (!token_valid(buf, len))
                return -EINVAL;
        *out = TAKE_PTR(buf);
        return 0;
}

static const char *token_error(int r) {
        if (r == -ENODATA)
                return "the file is empty";
        if (r == -EINVAL)
                return "it holds characters an HTTP header cannot carry";
        return strerror(-r);
}

/* "https://host[:port][/path]" without trailing slashes. -EPROTO for http://,
 * -EINVAL for anything else that is not https. */
static int normalize_server(const char *s, char **out) {
        if (strncasecmp(s, "http://", 7) == 0)
                return -EPROTO;
        if (strncasecmp(s, "https://", 8) != 0)
                return -EINVAL;
        const char *rest = s + 8;
        size_t n = strlen(rest);
        while (n > 0 && rest[n - 1] == '/')
                n--;
        if (n == 0 || rest[0] == '/' || rest[0] == ':')
                return -EINVAL;
        /* The client appends API paths: no query, fragment or user info. */
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)rest[i];
                if (c <= 0x20 || c >= 0x7f || c == '?' || c == '#' || c == '@')
                        return -EINVAL;
        }
        return xasprintf(out, "https://%.*s", (int)n, rest);
}

/* A PEM given inline (data_key, base64) or by file (path_key): 1 with *out
 * set, 0 when neither is given. */
static int get_blob(kc_doc *d, const where *w, yaml_node_t *body, const char *path_key,
                    const char *data_key, char **out, size_t *out_len, sv_error *err) {
        const char *path = NULL, *data = NULL;
        int r = get_string(d, w, body, path_key, PATH_MAX - 1, &path, err);
        if (r < 0 && r != -ENOENT)
                return r;
        r = get_string(d, w, body, data_key, SV_KUBE_CONFIG_FILE_MAX, &data, err);
        if (r < 0 && r != -ENOENT)
                return r;
        if (path && data)
                return fail(err, -EINVAL, w, "both \"%s\" and \"%s\" are set", path_key, data_key);

        char *buf = NULL;
        size_t len = 0;
        if (data) {
                r = sv_base64_decode(data, strlen(data), SV_KUBE_CONFIG_BLOB_MAX, &buf, &len);
                if (r == -E2BIG)
                        return fail(err, r, w, "\"%s\" decodes to more than %d bytes", data_key,
                                    SV_KUBE_CONFIG_BLOB_MAX);
                if (r < 0)
                        return fail(err, r, w, "\"%s\" is not valid base64", data_key);
        } else if (path) {
                _cleanup_free_ char *full = NULL;
                r = resolve_path(w->file, path, &full);
                if (r < 0)
                        return fail(err, r, w, "\"%s\" %s: %s", path_key, path, strerror(-r));
                r = sv_read_file_capped(full, SV_KUBE_CONFIG_BLOB_MAX, &buf, &len);
                if (r == -EFBIG)
                        return fail(err, r, w, "\"%s\" %s is larger than %d bytes", path_key, full,
                                    SV_KUBE_CONFIG_BLOB_MAX);
                if (r < 0)
                        return sv_errorf(err, r, SV_CODE_IO, "kubeconfig %s: %s: \"%s\" %s: %s",
                                         w->file, w->what, path_key, full, strerror(-r));
        } else {
                return 0;
        }
        if (len == 0) {
                free(buf);
                return fail(err, -EINVAL, w, "\"%s\" is empty", data ? data_key : path_key);
        }
        *out = buf;
        *out_len = len;
        return 1;
}

typedef struct context_ref {
        char *cluster;
        char *user; /* NULL: no credentials */
} context_ref;

static void context_ref_done(context_ref *c) {
        free(c->cluster);
        free(c->user);
}

static int read_context(kc_doc *d, const where *w, yaml_node_t *body, void *userdata,
                        sv_error *err) {
        context_ref *c = userdata;
        const char *cluster = NULL, *user = NULL;
        int r = get_string(d, w, body, "cluster", ENTRY_NAME_MAX, &cluster, err);
        if (r == -ENOENT)
                return fail(err, -EINVAL, w, "no \"cluster\" set");
        if (r < 0)
                return r;
        r = get_string(d, w, body, "user", ENTRY_NAME_MAX, &user, err);
        if (r < 0 && r != -ENOENT)
                return r;
        c->cluster = strdup(cluster);
        c->user = user ? strdup(user) : NULL;
        return !c->cluster || (user && !c->user) ? -ENOMEM : 0;
}

/* Settings we do not implement are refused, not ignored. */
static int refuse_unsupported(kc_doc *d, const where *w, yaml_node_t *body, const char *const *keys,
                              size_t n_keys, sv_error *err) {
        for (size_t i = 0; i < n_keys; i++) {
                yaml_node_t *n = NULL;
                int r = lookup(d, w, body, keys[i], &n, err);
                if (r < 0 && r != -ENOENT)
                        return r;
                if (r == 0 && !node_is_null(n))
                        return fail(err, -EOPNOTSUPP, w,
                                    "\"%s\" is set, which selvedge does not support", keys[i]);
        }
        return 0;
}

static int read_cluster(kc_doc *d, const where *w, yaml_node_t *body, void *userdata,
                        sv_error *err) {
        sv_kube_config *cfg = userdata;
        const char *server = NULL;
        static const char *const unsupported[] = {"proxy-url", "tls-server-name"};
        int r = refuse_unsupported(d, w, body, unsupported, ARRAY_SIZE(unsupported), err);
        if (r < 0)
                return r;

        r = get_string(d, w, body, "server", SERVER_MAX, &server, err);
        if (r == -ENOENT)
                return fail(err, -EINVAL, w, "no \"server\" set");
        if (r < 0)
                return r;
        r = normalize_server(server, &cfg->server);
        if (r == -EPROTO)
                return fail(err, -EINVAL, w,
                            "server \"%s\" is plain http: credentials would cross the network "
                            "in clear text; use https://",
                            server);
        if (r < 0)
                return fail(err, r, w, "server \"%s\" is not an https:// URL", server);

        r = get_blob(d, w, body, "certificate-authority", "certificate-authority-data",
                     &cfg->ca_pem, &cfg->ca_pem_len, err);
        if (r < 0)
                return r;
        bool insecure = false;
        r = get_bool(d, w, body, "insecure-skip-tls-verify", &insecure, err);
        if (r < 0 && r != -ENOENT)
                return r;
        /* client-go refuses this pair too: which one was meant? */
        if (insecure && cfg->ca_pem)
                return fail(err, -EINVAL, w,
                            "both insecure-skip-tls-verify and a certificate authority are set");
        cfg->insecure_skip_tls_verify = insecure;
        return 0;
}

static int read_user(kc_doc *d, const where *w, yaml_node_t *body, void *userdata, sv_error *err) {
        sv_kube_config *cfg = userdata;
        /* Ignoring these would talk to the API server as someone else. */
        static const char *const unsupported[] = {
                "exec", "auth-provider", "username",  "password",
                "as",   "as-uid",        "as-groups", "as-user-extra"};
        int r = refuse_unsupported(d, w, body, unsupported, ARRAY_SIZE(unsupported), err);
        if (r < 0)
                return r;

        r = get_blob(d, w, body, "client-certificate", "client-certificate-data", &cfg->cert_pem,
                     &cfg->cert_pem_len, err);
        if (r < 0)
                return r;
        r = get_blob(d, w, body, "client-key", "client-key-data", &cfg->key_pem, &cfg->key_pem_len,
                     err);
        if (r < 0)
                return r;
        if (!cfg->cert_pem != !cfg->key_pem)
                return fail(err, -EINVAL, w, "a client %s is set without a client %s",
                            cfg->cert_pem ? "certificate" : "key",
                            cfg->cert_pem ? "key" : "certificate");

        const char *token = NULL, *token_file = NULL;
        r = get_string(d, w, body, "token", SV_KUBE_TOKEN_MAX, &token, err);
        if (r < 0 && r != -ENOENT)
                return r;
        if (token && !token_valid(token, strlen(token)))
                return fail(err, -EINVAL, w,
                            "\"token\" holds characters an HTTP header cannot carry");
        r = get_string(d, w, body, "tokenFile", PATH_MAX - 1, &token_file, err);
        if (r < 0 && r != -ENOENT)
                return r;
        if (token_file) {
                r = resolve_path(w->file, token_file, &cfg->token_file);
                if (r < 0)
                        return fail(err, r, w, "\"tokenFile\" %s: %s", token_file, strerror(-r));
                /* As in client-go, the file's token wins over an inline one,
                 * which is only the fallback when the file cannot be read. */
                r = read_token_file(cfg->token_file, &cfg->token);
                if (r < 0 && !token)
                        return sv_errorf(err, r, SV_CODE_IO,
                                         "kubeconfig %s: %s: \"tokenFile\" %s: %s", w->file,
                                         w->what, cfg->token_file, token_error(r));
        }
        if (token && !cfg->token && !(cfg->token = strdup(token)))
                return -ENOMEM;
        return 0;
}

typedef int (*entry_fn)(kc_doc *d, const where *w, yaml_node_t *body, void *userdata,
                        sv_error *err);

/* Finds the entry named name in the first file that defines it and hands its
 * body to fn. Each pass re-reads the files so that only one parsed document is
 * in memory at a time. */
static int with_entry(const path_list *l, enum kind k, const char *name, const char *referrer,
                      entry_fn fn, void *userdata, sv_error *err) {
        for (size_t i = 0; i < l->n; i++) {
                _cleanup_(kc_doc_done) kc_doc d = {0};
                int r = kc_doc_load(&d, l->paths[i], err);
                if (r < 0)
                        return r;
                yaml_node_t *item = r > 0 ? sv_hashmap_get(d.index[k], name) : NULL;
                if (!item)
                        continue;

                char what[ENTRY_NAME_MAX + 32];
                (void)snprintf(what, sizeof(what), "%s \"%s\"", kinds[k].field, name);
                const where w = {.file = d.path, .what = what};
                yaml_node_t *body = NULL;
                r = lookup(&d, &w, item, kinds[k].field, &body, err);
                if (r < 0 && r != -ENOENT)
                        return r;
                if (node_is_null(body))
                        body = NULL;
                else if (body->type != YAML_MAPPING_NODE)
                        return fail(err, -EINVAL, &w, "\"%s\" must be a mapping", kinds[k].field);
                return fn(&d, &w, body, userdata, err);
        }
        return sv_errorf(err, -ENOENT, SV_CODE_INVALID_CONFIG,
                         "kubeconfig %s: %s \"%s\"%s%s%s not found", l->display, kinds[k].field,
                         name, referrer ? " (of context \"" : "", referrer ? referrer : "",
                         referrer ? "\")" : "");
}

int sv_kube_config_from_kubeconfig(const char *paths, const char *context, sv_kube_config **out,
                                   sv_error *err) {
        _cleanup_(path_list_done) path_list l = {0};
        int r = path_list_parse(paths, &l, err);
        if (r < 0)
                return r;

        /* Every existing file must parse; the first current-context wins. */
        _cleanup_free_ char *ctx_name = context && *context ? strdup(context) : NULL;
        if (context && *context && !ctx_name)
                return -ENOMEM;
        size_t found = 0;
        for (size_t i = 0; i < l.n; i++) {
                _cleanup_(kc_doc_done) kc_doc d = {0};
                r = kc_doc_load(&d, l.paths[i], err);
                if (r < 0)
                        return r;
                if (r == 0)
                        continue;
                found++;
                const char *cc = NULL;
                const where top = {.file = d.path};
                if (!ctx_name &&
                    get_string(&d, &top, d.root, "current-context", ENTRY_NAME_MAX, &cc, err) ==
                            0 &&
                    !(ctx_name = strdup(cc)))
                        return -ENOMEM;
        }
        if (found == 0)
                return sv_errorf(err, -ENOENT, SV_CODE_INVALID_CONFIG,
                                 "kubeconfig %s: no such file", l.display);
        if (!ctx_name)
                return sv_errorf(err, -ENOENT, SV_CODE_INVALID_CONFIG,
                                 "kubeconfig %s: no context given and \"current-context\" is not "
                                 "set",
                                 l.display);

        _cleanup_(context_ref_done) context_ref ref = {0};
        r = with_entry(&l, KIND_CONTEXT, ctx_name, NULL, read_context, &ref, err);
        if (r < 0)
                return r;
        _cleanup_(sv_kube_config_freep) sv_kube_config *cfg = calloc(1, sizeof(*cfg));
        if (!cfg)
                return -ENOMEM;
        r = with_entry(&l, KIND_CLUSTER, ref.cluster, ctx_name, read_cluster, cfg, err);
        if (r < 0)
                return r;
        if (ref.user) {
                r = with_entry(&l, KIND_USER, ref.user, ctx_name, read_user, cfg, err);
                if (r < 0)
                        return r;
        }
        *out = TAKE_PTR(cfg);
        return 0;
}

/* ---- in-cluster ---- */

static int service_host(const char *host, char **out) {
        if (strchr(host, ':')) {
                struct in6_addr a6;
                if (inet_pton(AF_INET6, host, &a6) != 1)
                        return -EINVAL;
                return xasprintf(out, "[%s]", host);
        }
        size_t n = strlen(host);
        if (n == 0 || n > 253)
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char)host[i]) && host[i] != '.' && host[i] != '-')
                        return -EINVAL;
        char *p = strdup(host);
        if (!p)
                return -ENOMEM;
        *out = p;
        return 0;
}

int sv_kube_config_in_cluster(const char *root, sv_kube_config **out, sv_error *err) {
        const char *host = getenv("KUBERNETES_SERVICE_HOST");
        const char *port = getenv("KUBERNETES_SERVICE_PORT");
        if (!host || !*host || !port || !*port)
                return sv_errorf(err, -ENOENT, SV_CODE_INVALID_ENV,
                                 "not running in a cluster: KUBERNETES_SERVICE_HOST and "
                                 "KUBERNETES_SERVICE_PORT must both be set");
        _cleanup_free_ char *h = NULL;
        int r = service_host(host, &h);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return sv_errorf(err, r, SV_CODE_INVALID_ENV,
                                 "KUBERNETES_SERVICE_HOST \"%.253s\" is not a host name or IP "
                                 "address",
                                 host);
        uint16_t p;
        if (sv_parse_port(port, &p) < 0)
                return sv_errorf(err, -EINVAL, SV_CODE_INVALID_ENV,
                                 "KUBERNETES_SERVICE_PORT \"%.16s\" is not a port number", port);

        _cleanup_(sv_kube_config_freep) sv_kube_config *cfg = calloc(1, sizeof(*cfg));
        if (!cfg)
                return -ENOMEM;
        if (!root)
                root = "";
        _cleanup_free_ char *ca_path = NULL;
        if (xasprintf(&cfg->server, "https://%s:%u", h, (unsigned)p) < 0 ||
            xasprintf(&cfg->token_file, "%s" SA_DIR "/token", root) < 0 ||
            xasprintf(&ca_path, "%s" SA_DIR "/ca.crt", root) < 0)
                return -ENOMEM;

        r = read_token_file(cfg->token_file, &cfg->token);
        if (r < 0)
                return sv_errorf(err, r, SV_CODE_IO, "service account token %s: %s",
                                 cfg->token_file, token_error(r));
        r = sv_read_file_capped(ca_path, SV_KUBE_CONFIG_BLOB_MAX, &cfg->ca_pem, &cfg->ca_pem_len);
        if (r < 0)
                return sv_errorf(err, r, SV_CODE_IO, "service account CA %s: %s", ca_path,
                                 strerror(-r));
        if (cfg->ca_pem_len == 0)
                return sv_errorf(err, -ENODATA, SV_CODE_IO,
                                 "service account CA %s: the file is empty", ca_path);
        *out = TAKE_PTR(cfg);
        return 0;
}

int sv_kube_config_load(const char *kubeconfig_flag, sv_kube_config **out, sv_error *err) {
        if (kubeconfig_flag)
                return sv_kube_config_from_kubeconfig(kubeconfig_flag, NULL, out, err);
        const char *host = getenv("KUBERNETES_SERVICE_HOST");
        if (host && *host)
                return sv_kube_config_in_cluster("", out, err);
        return sv_kube_config_from_kubeconfig(NULL, NULL, out, err);
}

/* Frees a secret after overwriting it, so it does not linger in freed heap. */
static void free_secret(char *p, size_t len) {
        if (!p)
                return;
        explicit_bzero(p, len);
        free(p);
}

int sv_kube_config_reload_token(sv_kube_config *cfg, bool *changed) {
        if (!cfg)
                return -EINVAL;
        if (!cfg->token_file) {
                *changed = false;
                return 0;
        }
        char *token = NULL;
        int r = read_token_file(cfg->token_file, &token);
        if (r < 0)
                return r;
        if (cfg->token && strcmp(cfg->token, token) == 0) {
                free_secret(token, strlen(token));
                *changed = false;
                return 0;
        }
        if (cfg->token)
                free_secret(cfg->token, strlen(cfg->token));
        cfg->token = token;
        *changed = true;
        return 0;
}

sv_kube_config *sv_kube_config_free(sv_kube_config *cfg) {
        if (!cfg)
                return NULL;
        free(cfg->server);
        free(cfg->ca_pem);
        free(cfg->cert_pem);
        free_secret(cfg->key_pem, cfg->key_pem_len);
        free_secret(cfg->token, cfg->token ? strlen(cfg->token) : 0);
        free(cfg->token_file);
        free(cfg);
        return NULL;
}
