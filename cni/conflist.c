/* SPDX-License-Identifier: Apache-2.0 */
#include "cni/conflist.h"

#include <string.h>

#include "base/macro.h"
#include "base/strbuf.h"

/* Names, types and versions are short; anything longer is not a real config. */
#define FIELD_MAX 256
/* Re-indenting can make the output larger than the input; bound it anyway. */
#define DUMP_MAX (4 * SV_CNI_CONFIG_MAX_BYTES)

static bool ends_with(const char *s, const char *suffix) {
        size_t n = strlen(s), m = strlen(suffix);
        return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

int sv_cni_entry_validate(const sv_cni_entry *e, sv_error *err) {
        if (!e->failure_policy ||
            (strcmp(e->failure_policy, "Fail") != 0 && strcmp(e->failure_policy, "Ignore") != 0))
                return sv_errorf(err, -EINVAL, SV_CODE_INVALID_CONFIG,
                                 "failure policy \"%s\" is not Fail or Ignore",
                                 e->failure_policy ? e->failure_policy : "");
        const struct {
                const char *what, *path;
        } paths[] = {{"agent socket", e->agent_socket}, {"state dir", e->state_dir}};
        for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
                const char *p = paths[i].path;
                if (!p || p[0] != '/')
                        return sv_errorf(err, -EINVAL, SV_CODE_INVALID_CONFIG,
                                         "%s \"%s\" is not an absolute path", paths[i].what,
                                         p ? p : "");
                if (strlen(p) >= SV_CNI_PATH_MAX)
                        return sv_errorf(err, -EINVAL, SV_CODE_INVALID_CONFIG,
                                         "%s path is longer than %d bytes", paths[i].what,
                                         SV_CNI_PATH_MAX - 1);
        }
        return 0;
}

bool sv_cni_is_config_name(const char *name) {
        if (!name || name[0] == '.')
                return false;
        return ends_with(name, ".conflist") || ends_with(name, ".conf") || ends_with(name, ".json");
}

bool sv_cni_is_conflist_name(const char *name) {
        return sv_cni_is_config_name(name) && ends_with(name, ".conflist");
}

int sv_cni_pick_primary(const char *const *names, size_t n) {
        int best = -ENOENT;
        for (size_t i = 0; i < n; i++) {
                if (!sv_cni_is_config_name(names[i]))
                        continue;
                /* libcni sorts with Go's sort.Strings: plain byte order, like strcmp. */
                if (best < 0 || strcmp(names[i], names[best]) < 0)
                        best = (int)i;
        }
        return best;
}

int sv_cni_conflist_name_for(const char *name, char **out) {
        if (!sv_cni_is_config_name(name) || sv_cni_is_conflist_name(name))
                return -EINVAL;
        /* Both ".conf" and ".json" are 5 bytes. */
        size_t base = strlen(name) - 5;
        if (base > FIELD_MAX)
                return -ENAMETOOLONG;
        char *s = NULL;
        if (asprintf(&s, "%.*s.conflist", (int)base, name) < 0)
                return -ENOMEM;
        *out = s;
        return 0;
}

/* A required, non-empty string member. */
static int get_name(json_t *obj, const char *key, sv_error *err) {
        const char *s = NULL;
        int r = sv_json_get_string(obj, key, true, FIELD_MAX, &s, err);
        if (r < 0)
                return r;
        if (s[0] == '\0')
                return sv_errorf(err, -EINVAL, SV_CODE_INVALID_CONFIG, "field \"%s\" is empty",
                                 key);
        return 0;
}

static int check_plugin(json_t *p, size_t i, sv_error *err) {
        if (!json_is_object(p))
                return sv_errorf(err, -EINVAL, SV_CODE_INVALID_CONFIG,
                                 "plugin %zu in \"plugins\" is not an object", i);
        int r = get_name(p, "type", err);
        if (r < 0)
                sv_error_prefix(err, "plugin %zu in \"plugins\": ", i);
        return r;
}

/* The rules libcni applies when it loads a list (ConfListFromBytes). */
static int check_list(json_t *root, sv_error *err) {
        if (!json_is_object(root))
                return sv_errorf(err, -EINVAL, SV_CODE_INVALID_CONFIG,
                                 "a network configuration list must be a JSON object");
        int r = get_name(root, "name", err);
        if (r < 0)
                return r;
        json_t *plugins = NULL;
        r = sv_json_get_array(root, "plugins", true, SV_CNI_CONFIG_MAX_PLUGINS, &plugins, err);
        if (r < 0)
                return r;
        if (json_array_size(plugins) == 0)
                return sv_errorf(err, -EINVAL, SV_CODE_INVALID_CONFIG,
                                 "field \"plugins\" is an empty list");
        size_t i;
        json_t *p;
        json_array_foreach (plugins, i, p) {
                r = check_plugin(p, i, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

int sv_conflist_parse(const char *buf, size_t len, json_t **out, sv_error *err) {
        _cleanup_json_ json_t *root = NULL;
        int r = sv_json_parse(buf, len, SV_CNI_CONFIG_MAX_BYTES, &root, err);
        if (r < 0)
                return r;
        r = check_list(root, err);
        if (r < 0)
                return r;
        *out = TAKE_PTR(root);
        return 0;
}

static int check_conf(json_t *root, sv_error *err) {
        if (!json_is_object(root))
                return sv_errorf(err, -EINVAL, SV_CODE_INVALID_CONFIG,
                                 "a network configuration must be a JSON object");
        int r = get_name(root, "name", err);
        if (r < 0)
                return r;
        return get_name(root, "type", err);
}

int sv_cni_conf_parse(const char *buf, size_t len, json_t **out, sv_error *err) {
        _cleanup_json_ json_t *root = NULL;
        int r = sv_json_parse(buf, len, SV_CNI_CONFIG_MAX_BYTES, &root, err);
        if (r < 0)
                return r;
        r = check_conf(root, err);
        if (r < 0)
                return r;
        *out = TAKE_PTR(root);
        return 0;
}

int sv_conflist_from_conf(json_t *conf, json_t **out, sv_error *err) {
        int r = check_conf(conf, err);
        if (r < 0)
                return r;

        _cleanup_json_ json_t *list = json_object();
        _cleanup_json_ json_t *plugin = json_deep_copy(conf);
        _cleanup_json_ json_t *plugins = json_array();
        if (!list || !plugin || !plugins)
                return -ENOMEM;
        /* The runtime injects cniVersion and name into every plugin of a list,
         * so the plugin itself no longer carries them. */
        json_t *version = json_object_get(conf, "cniVersion");
        if (version && json_object_set(list, "cniVersion", version) < 0)
                return -ENOMEM;
        if (json_object_set(list, "name", json_object_get(conf, "name")) < 0)
                return -ENOMEM;
        (void)json_object_del(plugin, "cniVersion");
        (void)json_object_del(plugin, "name");
        if (json_array_append(plugins, plugin) < 0 || json_object_set(list, "plugins", plugins) < 0)
                return -ENOMEM;
        *out = TAKE_PTR(list);
        return 0;
}

static bool is_ours(json_t *p) {
        const char *type = json_string_value(json_object_get(p, "type"));
        return type && strcmp(type, SV_CNI_TYPE) == 0;
}

static json_t *plugins_of(json_t *list, sv_error *err) {
        json_t *plugins = json_object_get(list, "plugins");
        if (!json_is_array(plugins))
                (void)sv_errorf(err, -EINVAL, SV_CODE_INVALID_CONFIG,
                                "field \"plugins\" must be a list");
        return json_is_array(plugins) ? plugins : NULL;
}

int sv_conflist_find_entry(json_t *list) {
        json_t *plugins = plugins_of(list, NULL);
        size_t i;
        json_t *p;
        json_array_foreach (plugins, i, p) {
                if (is_ours(p))
                        return (int)i;
        }
        return -ENOENT;
}

static json_t *make_entry(const sv_cni_entry *e) {
        return json_pack("{s:s, s:s, s:s, s:s}", "type", SV_CNI_TYPE, "failurePolicy",
                         e->failure_policy, "agentSocket", e->agent_socket, "stateDir",
                         e->state_dir);
}

int sv_conflist_set_entry(json_t *list, const sv_cni_entry *e, sv_error *err) {
        int r = sv_cni_entry_validate(e, err);
        if (r < 0)
                return r;
        json_t *plugins = plugins_of(list, err);
        if (!plugins)
                return -EINVAL;
        _cleanup_json_ json_t *want = make_entry(e);
        if (!want)
                return -ENOMEM;

        size_t n = json_array_size(plugins), ours = 0;
        for (size_t i = 0; i < n; i++)
                ours += is_ours(json_array_get(plugins, i));
        /* Already right: write nothing, so a watcher never loops on its own writes. */
        if (ours == 1 && is_ours(json_array_get(plugins, n - 1)) &&
            json_equal(json_array_get(plugins, n - 1), want))
                return 0;

        /* Last, because a chained plugin needs every other plugin's result in
         * prevResult; one, because the runtime would call each copy. */
        (void)sv_conflist_remove_entry(list);
        if (json_array_append(plugins, want) < 0)
                return -ENOMEM;
        return 1;
}

int sv_conflist_remove_entry(json_t *list) {
        json_t *plugins = plugins_of(list, NULL);
        int removed = 0;
        for (size_t i = json_array_size(plugins); i > 0; i--)
                if (is_ours(json_array_get(plugins, i - 1))) {
                        (void)json_array_remove(plugins, i - 1);
                        removed++;
                }
        return removed;
}

int sv_conflist_dump(json_t *list, char **out, size_t *len) {
        /* No JSON_REAL_PRECISION: jansson's default (17 digits) round-trips every
         * number exactly, so other plugins' values keep their meaning. */
        _cleanup_free_ char *s = json_dumps(list, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (!s)
                return -ENOMEM;
        sv_strbuf sb = SV_STRBUF_INIT(DUMP_MAX);
        int r = sv_strbuf_appends(&sb, s);
        if (r >= 0)
                r = sv_strbuf_append(&sb, "\n", 1);
        if (r < 0) {
                sv_strbuf_done(&sb);
                return r;
        }
        *len = sb.len;
        *out = sv_strbuf_steal(&sb);
        return 0;
}
