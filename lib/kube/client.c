/* SPDX-License-Identifier: Apache-2.0 */
#include "kube/client.h"

#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/strbuf.h"
#include "json/json.h"

#define RESPONSE_MAX (64u << 20)
#define TOKEN_REREAD_MS 60000

struct sv_kube_stream {
        sv_kube_client *client;
        CURL *easy;
        struct curl_slist *headers;
        sv_kube_stream_ops ops;
        void *userdata;
        bool done;
        CURLcode result;
        sv_kube_stream *next;
};

struct sv_kube_client {
        sv_kube_config *cfg;
        CURLM *multi;
        sv_kube_client_options opts;
        int64_t token_read_ms;
        sv_kube_stream *streams;
};

static void curl_easy_cleanupp(CURL **e) {
        if (*e)
                curl_easy_cleanup(*e);
}
static void curl_slist_free_allp(struct curl_slist **l) {
        curl_slist_free_all(*l);
}

int sv_kube_client_new(sv_kube_config *cfg_in, const sv_kube_client_options *opts,
                       sv_kube_client **out, sv_error *err) {
        _cleanup_(sv_kube_config_freep) sv_kube_config *cfg = cfg_in;
        static int global_init;
        if (!global_init) {
                if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                        return sv_errorf(err, -EIO, SV_CODE_INTERNAL,
                                         "libcurl failed to initialise");
                global_init = 1;
        }
        _cleanup_(sv_kube_client_freep) sv_kube_client *c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->opts = opts ? *opts : (sv_kube_client_options){0};
        if (c->opts.connect_timeout_ms <= 0)
                c->opts.connect_timeout_ms = 5000;
        if (c->opts.request_timeout_ms <= 0)
                c->opts.request_timeout_ms = 30000;
        if (!c->opts.user_agent)
                c->opts.user_agent = "selvedge";
        c->multi = curl_multi_init();
        if (!c->multi)
                return -ENOMEM;
        /* One connection, many streams: HTTP/2 multiplexing. */
        curl_multi_setopt(c->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
        c->cfg = TAKE_PTR(cfg);
        c->token_read_ms = sv_monotonic_ms();
        *out = TAKE_PTR(c);
        return 0;
}

sv_kube_client *sv_kube_client_free(sv_kube_client *c) {
        if (!c)
                return NULL;
        while (c->streams)
                sv_kube_stream_cancel(c->streams);
        if (c->multi)
                curl_multi_cleanup(c->multi);
        sv_kube_config_free(c->cfg);
        free(c);
        return NULL;
}

void sv_kube_response_done(sv_kube_response *r) {
        json_decref(r->body);
        *r = (sv_kube_response){0};
}

/* Bound tokens rotate: re-read the file about once a minute, keeping the old
 * token when the read fails. */
static void refresh_token(sv_kube_client *c) {
        if (!c->cfg->token_file)
                return;
        int64_t now = sv_monotonic_ms();
        if (now - c->token_read_ms < TOKEN_REREAD_MS)
                return;
        c->token_read_ms = now;
        bool changed = false;
        (void)sv_kube_config_reload_token(c->cfg, &changed);
}

static int build_headers(sv_kube_client *c, const char *content_type, struct curl_slist **out) {
        _cleanup_(curl_slist_free_allp) struct curl_slist *h = NULL;
        struct curl_slist *n = curl_slist_append(NULL, "Accept: application/json");
        if (!n)
                return -ENOMEM;
        h = n;
        if (content_type) {
                char line[128];
                int len = snprintf(line, sizeof(line), "Content-Type: %s", content_type);
                if (len < 0 || (size_t)len >= sizeof(line))
                        return -EINVAL;
                if (!(n = curl_slist_append(h, line)))
                        return -ENOMEM;
        }
        refresh_token(c);
        if (c->cfg->token) {
                _cleanup_(sv_strbuf_done) sv_strbuf sb = SV_STRBUF_INIT(16384);
                int r = sv_strbuf_appendf(&sb, "Authorization: Bearer %s", c->cfg->token);
                if (r < 0)
                        return r;
                if (!(n = curl_slist_append(h, sv_strbuf_str(&sb))))
                        return -ENOMEM;
        }
        *out = TAKE_PTR(h);
        return 0;
}

static int setup_easy(sv_kube_client *c, const char *path, struct curl_slist *headers, CURL **out) {
        _cleanup_(sv_strbuf_done) sv_strbuf url = SV_STRBUF_INIT(8192);
        int r = sv_strbuf_appendf(&url, "%s%s", c->cfg->server, path);
        if (r < 0)
                return r;
        _cleanup_(curl_easy_cleanupp) CURL *e = curl_easy_init();
        if (!e)
                return -ENOMEM;
        const sv_kube_config *cfg = c->cfg;
        CURLcode rc = CURLE_OK;
#define SET(opt, val)                                                                              \
        do {                                                                                       \
                if (rc == CURLE_OK)                                                                \
                        rc = curl_easy_setopt(e, opt, val);                                        \
        } while (0)
        SET(CURLOPT_URL, sv_strbuf_str(&url));
        SET(CURLOPT_PROTOCOLS_STR, "https");
        SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
        /* Wait for the shared connection rather than opening another. */
        SET(CURLOPT_PIPEWAIT, 1L);
        SET(CURLOPT_NOSIGNAL, 1L);
        SET(CURLOPT_USERAGENT, c->opts.user_agent);
        SET(CURLOPT_HTTPHEADER, headers);
        SET(CURLOPT_CONNECTTIMEOUT_MS, c->opts.connect_timeout_ms);
        /* Half-open connections otherwise go unnoticed for hours. */
        SET(CURLOPT_TCP_KEEPALIVE, 1L);
        SET(CURLOPT_TCP_KEEPIDLE, 30L);
        SET(CURLOPT_TCP_KEEPINTVL, 10L);
        SET(CURLOPT_ACCEPT_ENCODING, "gzip");
        if (cfg->ca_pem) {
                struct curl_blob ca = {
                        .data = cfg->ca_pem, .len = cfg->ca_pem_len, .flags = CURL_BLOB_COPY};
                SET(CURLOPT_CAINFO_BLOB, &ca);
        }
        if (cfg->cert_pem && cfg->key_pem) {
                struct curl_blob cert = {
                        .data = cfg->cert_pem, .len = cfg->cert_pem_len, .flags = CURL_BLOB_COPY};
                /* With the length of its terminating NUL, which the loaders
                 * keep after the text: mbedTLS reads a buffer as PEM only when
                 * its last byte is NUL, and curl copies the certificate's
                 * blob with one added but hands the key's over as it is. */
                struct curl_blob key = {
                        .data = cfg->key_pem, .len = cfg->key_pem_len + 1, .flags = CURL_BLOB_COPY};
                SET(CURLOPT_SSLCERTTYPE, "PEM");
                SET(CURLOPT_SSLCERT_BLOB, &cert);
                SET(CURLOPT_SSLKEYTYPE, "PEM");
                SET(CURLOPT_SSLKEY_BLOB, &key);
        }
        if (cfg->insecure_skip_tls_verify) {
                SET(CURLOPT_SSL_VERIFYPEER, 0L);
                SET(CURLOPT_SSL_VERIFYHOST, 0L);
        }
#undef SET
        if (rc != CURLE_OK)
                return -EINVAL;
        *out = TAKE_PTR(e);
        return 0;
}

static size_t collect_body(char *ptr, size_t size, size_t nmemb, void *userdata) {
        sv_strbuf *sb = userdata;
        return sv_strbuf_append(sb, ptr, size * nmemb) < 0 ? 0 : size * nmemb;
}

static size_t stream_body(char *ptr, size_t size, size_t nmemb, void *userdata) {
        sv_kube_stream *s = userdata;
        long status = 0;
        /* An error answer (410, 429, 5xx) is a Status object, not a stream of
         * events: on_done reports its code; the body is not passed on. */
        if (curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK &&
            status != 200)
                return size * nmemb;
        return s->ops.on_data(s->userdata, ptr, size * nmemb) < 0 ? 0 : size * nmemb;
}

/* detail: curl's own message for the transfer (its error buffer), or NULL. */
static int transport_error(CURLcode rc, const char *detail, sv_error *err) {
        int r = rc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT
                : rc == CURLE_COULDNT_CONNECT  ? -ECONNREFUSED
                : rc == CURLE_OUT_OF_MEMORY    ? -ENOMEM
                                               : -EIO;
        /* Some TLS backends end their message with a newline. */
        size_t len = detail ? strcspn(detail, "\r\n") : 0;
        if (len > 0)
                return sv_errorf(err, r, SV_CODE_TRY_AGAIN, "API server: %s: %.*s",
                                 curl_easy_strerror(rc), (int)len, detail);
        return sv_errorf(err, r, SV_CODE_TRY_AGAIN, "API server: %s", curl_easy_strerror(rc));
}

/* Reads finished transfers. Returns true when `mine` finished (its result in
 * *result); streams are only marked, their on_done waits for dispatch. */
static bool collect_done(sv_kube_client *c, CURL *mine, CURLcode *result) {
        bool found = false;
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(c->multi, &left))) {
                if (m->msg != CURLMSG_DONE)
                        continue;
                if (m->easy_handle == mine) {
                        *result = m->data.result;
                        found = true;
                        continue;
                }
                sv_kube_stream *s = NULL;
                if (curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s) == CURLE_OK &&
                    s) {
                        s->done = true;
                        s->result = m->data.result;
                }
        }
        return found;
}

int sv_kube_request(sv_kube_client *c, const char *method, const char *path,
                    const char *content_type, const json_t *body, sv_kube_response *out,
                    sv_error *err) {
        _cleanup_free_ char *payload = NULL;
        if (body) {
                payload = json_dumps(body, JSON_COMPACT);
                if (!payload)
                        return -ENOMEM;
                if (!content_type)
                        content_type = "application/json";
        }
        _cleanup_(curl_slist_free_allp) struct curl_slist *headers = NULL;
        int r = build_headers(c, payload ? content_type : NULL, &headers);
        if (r < 0)
                return sv_errorf(err, r, SV_CODE_INTERNAL, "building request headers failed");
        _cleanup_(curl_easy_cleanupp) CURL *e = NULL;
        r = setup_easy(c, path, headers, &e);
        if (r < 0)
                return sv_errorf(err, r, SV_CODE_INTERNAL, "setting up request %s failed", path);
        _cleanup_(sv_strbuf_done) sv_strbuf resp = SV_STRBUF_INIT(RESPONSE_MAX);
        char detail[CURL_ERROR_SIZE] = "";
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, detail);
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect_body);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, &resp);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, c->opts.request_timeout_ms);
        if (payload)
                curl_easy_setopt(e, CURLOPT_POSTFIELDS, payload);
        else if (strcmp(method, "GET") != 0)
                curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L);
        if (strcmp(method, "GET") == 0)
                curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);

        if (curl_multi_add_handle(c->multi, e) != CURLM_OK)
                return sv_errorf(err, -ENOMEM, SV_CODE_INTERNAL, "curl_multi_add_handle failed");
        CURLcode result = CURLE_OK;
        for (;;) {
                int running = 0;
                curl_multi_perform(c->multi, &running);
                if (collect_done(c, e, &result))
                        break;
                curl_multi_poll(c->multi, NULL, 0, 1000, NULL);
        }
        curl_multi_remove_handle(c->multi, e);
        if (result != CURLE_OK)
                return transport_error(result, detail, err);

        sv_kube_response res = {0};
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &res.status);
        curl_off_t retry_after = 0;
        if (curl_easy_getinfo(e, CURLINFO_RETRY_AFTER, &retry_after) == CURLE_OK)
                res.retry_after_s = (long)retry_after;
        if (resp.len > 0) {
                /* Not all error responses are JSON; the status still says it all. */
                sv_error ignored = SV_ERROR_INIT;
                (void)sv_json_parse(resp.data, resp.len, RESPONSE_MAX, &res.body, &ignored);
        }
        *out = res;
        return 0;
}

int sv_kube_stream_start(sv_kube_client *c, const char *path, const sv_kube_stream_ops *ops,
                         void *userdata, sv_kube_stream **out, sv_error *err) {
        _cleanup_free_ sv_kube_stream *s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        int r = build_headers(c, NULL, &s->headers);
        if (r < 0)
                return sv_errorf(err, r, SV_CODE_INTERNAL, "building request headers failed");
        r = setup_easy(c, path, s->headers, &s->easy);
        if (r < 0) {
                curl_slist_free_all(s->headers);
                return sv_errorf(err, r, SV_CODE_INTERNAL, "setting up watch %s failed", path);
        }
        s->client = c;
        s->ops = *ops;
        s->userdata = userdata;
        curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, stream_body);
        curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s);
        curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
        if (curl_multi_add_handle(c->multi, s->easy) != CURLM_OK) {
                curl_easy_cleanup(s->easy);
                curl_slist_free_all(s->headers);
                return sv_errorf(err, -ENOMEM, SV_CODE_INTERNAL, "curl_multi_add_handle failed");
        }
        s->next = c->streams;
        c->streams = s;
        *out = TAKE_PTR(s);
        return 0;
}

static void stream_free(sv_kube_stream *s) {
        sv_kube_client *c = s->client;
        for (sv_kube_stream **p = &c->streams; *p; p = &(*p)->next)
                if (*p == s) {
                        *p = s->next;
                        break;
                }
        curl_multi_remove_handle(c->multi, s->easy);
        curl_easy_cleanup(s->easy);
        curl_slist_free_all(s->headers);
        free(s);
}

void sv_kube_stream_cancel(sv_kube_stream *s) {
        if (s)
                stream_free(s);
}

int sv_kube_client_poll(sv_kube_client *c, struct curl_waitfd *extra, unsigned n_extra,
                        int timeout_ms) {
        return curl_multi_poll(c->multi, extra, n_extra, timeout_ms, NULL) == CURLM_OK ? 0 : -EIO;
}

int sv_kube_client_dispatch(sv_kube_client *c) {
        int running = 0;
        curl_multi_perform(c->multi, &running);
        CURLcode ignored;
        (void)collect_done(c, NULL, &ignored);
        /* Callbacks may start or cancel streams: rescan from the head after each. */
        for (;;) {
                sv_kube_stream *s = c->streams;
                while (s && !s->done)
                        s = s->next;
                if (!s)
                        return 0;
                long status = 0;
                curl_off_t retry_after = 0;
                curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
                curl_easy_getinfo(s->easy, CURLINFO_RETRY_AFTER, &retry_after);
                int result = s->result == CURLE_OK ? 0 : transport_error(s->result, NULL, NULL);
                sv_kube_stream_ops ops = s->ops;
                void *ud = s->userdata;
                stream_free(s);
                ops.on_done(ud, result, status, (long)retry_after);
        }
}

int sv_kube_escape(const char *s, char **out) {
        char *e = curl_easy_escape(NULL, s, 0);
        if (!e)
                return -ENOMEM;
        char *copy = strdup(e);
        curl_free(e);
        if (!copy)
                return -ENOMEM;
        *out = copy;
        return 0;
}
