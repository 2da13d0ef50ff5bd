/* SPDX-License-Identifier: Apache-2.0 */
/* The node installer: copies the plugin into the CNI bin dir, keeps
 * selvedge-cni's entry last in the primary network configuration list, and
 * with --watch puts it back whenever the primary CNI rewrites that file (k3s'
 * flannel does on every agent start). The JSON rules are in conflist.c. */
#include "cni/installer.h"

#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <linux/openat2.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/error.h"
#include "base/fileio.h"
#include "base/log.h"
#include "cni/netconf.h"
#include "base/macro.h"
#include "cni/conflist.h"

#define EXIT_USAGE 2
#define BINARY_MAX (128 * 1024 * 1024)
#define CONF_DIR_MAX_FILES 4096
/* How often one pass is retried when the file changes while we patch it. */
#define PATCH_RETRIES 5

/* patch_primary() results besides 0 and -errno. */
#define PATCH_NO_PRIMARY 1
#define PATCH_EMPTY 2

/* Created, moved in, moved away, deleted or rewritten (close after write; a
 * truncate alone is not reacted to, the file is half-written then). */
#define WATCH_MASK                                                                                 \
        (IN_CREATE | IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_DELETE_SELF |   \
         IN_MOVE_SELF)

struct preset {
        const char *name, *conf_dir, *bin_dir;
};

static const struct preset presets[] = {
        {"generic", "/etc/cni/net.d", "/opt/cni/bin"},
        {"k3s", "/var/lib/rancher/k3s/agent/etc/cni/net.d",
         "/var/lib/rancher/k3s/data/current/bin"},
        {"k3d", "/var/lib/rancher/k3s/agent/etc/cni/net.d", "/bin"},
        {"microk8s", "/var/snap/microk8s/current/args/cni-network",
         "/var/snap/microk8s/current/opt/cni/bin"},
};

struct options {
        bool install;
        const char *verb;
        const char *host_root;
        const char *conf_dir; /* paths on the node, below host_root */
        const char *bin_dir;
        const char *source;
        sv_cni_entry entry;
        bool watch;
        bool uninstall_on_exit;
};

static inline void closedirp(DIR **d) {
        if (*d)
                (void)closedir(*d);
}

/* a + "/" + b with exactly one slash between them. */
static int join(const char *a, const char *b, char **out) {
        size_t n = strlen(a);
        while (n > 1 && a[n - 1] == '/')
                n--;
        while (*b == '/')
                b++;
        bool slash = n > 0 && a[n - 1] != '/' && *b;
        if (n + 1 + strlen(b) >= PATH_MAX)
                return -ENAMETOOLONG;
        char *s = NULL;
        if (asprintf(&s, "%.*s%s%s", (int)n, a, slash ? "/" : "", b) < 0)
                return -ENOMEM;
        *out = s;
        return 0;
}

static bool is_slash(const char *root) {
        return strspn(root, "/") == strlen(root);
}

/* Turns a path on the node into one we can use. Under a --host-root the path
 * is resolved inside that root (openat2 RESOLVE_IN_ROOT): k3s' data/current
 * is an absolute symlink, which would otherwise lead into our own container. */
static int host_path(const struct options *o, const char *path, char **out) {
        if (is_slash(o->host_root))
                return join("/", path, out);

        _cleanup_close_ int root = open(o->host_root, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (root < 0)
                return negative_errno();
        const char *rel = path + strspn(path, "/");
        struct open_how how = {.flags = O_PATH | O_CLOEXEC,
                               .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
        _cleanup_close_ int fd =
                (int)syscall(SYS_openat2, root, *rel ? rel : ".", &how, sizeof(how));
        if (fd < 0) {
                /* Kernels before 5.6, or a seccomp profile that hides openat2. */
                if (errno == ENOSYS || errno == EPERM)
                        return join(o->host_root, path, out);
                return negative_errno();
        }
        char proc[64], buf[PATH_MAX];
        (void)snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        ssize_t n = readlink(proc, buf, sizeof(buf) - 1);
        if (n < 0)
                return join(o->host_root, path, out); /* no /proc: best effort */
        if ((size_t)n >= sizeof(buf) - 1)
                return -ENAMETOOLONG;
        buf[n] = '\0';
        char *s = strdup(buf);
        if (!s)
                return -ENOMEM;
        *out = s;
        return 0;
}

/* An existing directory on the node, resolved. */
static int host_dir(const struct options *o, const char *what, const char *path, char **out,
                    sv_error *err) {
        _cleanup_free_ char *p = NULL;
        int r = host_path(o, path, &p);
        struct stat st;
        if (r >= 0 && stat(p, &st) < 0)
                r = negative_errno();
        if (r >= 0 && !S_ISDIR(st.st_mode))
                r = -ENOTDIR;
        if (r == -ENOENT || r == -ENOTDIR)
                return sv_errorf(err, r, SV_CODE_IO,
                                 "%s %s does not exist under host root %s (wrong --preset?)", what,
                                 path, o->host_root);
        if (r < 0)
                return sv_errorf(err, r, SV_CODE_IO, "cannot open %s %s under host root %s: %s",
                                 what, path, o->host_root, strerror(-r));
        *out = TAKE_PTR(p);
        return 0;
}

/* Creates one directory on the node if missing; its parent must exist. */
static int make_one_dir(const struct options *o, const char *path, mode_t mode) {
        _cleanup_free_ char *p = NULL;
        struct stat st;
        int r = host_path(o, path, &p);
        /* Stat even after a resolution: the fallback without openat2 only joins. */
        if (r >= 0)
                r = stat(p, &st) < 0 ? negative_errno() : S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
        if (r != -ENOENT)
                return r;

        const char *slash = strrchr(path, '/');
        _cleanup_free_ char *parent_path = strndup(path, slash > path ? (size_t)(slash - path) : 1);
        _cleanup_free_ char *parent = NULL, *full = NULL;
        if (!parent_path)
                return -ENOMEM;
        r = host_path(o, parent_path, &parent);
        if (r < 0)
                return r;
        r = join(parent, slash + 1, &full);
        if (r < 0)
                return r;
        if (mkdir(full, mode) < 0)
                return errno == EEXIST ? 0 : negative_errno();
        char m[8];
        (void)snprintf(m, sizeof(m), "%04o", (unsigned)mode);
        sv_log(SV_LOG_INFO, "created directory", "path", full, "mode", m, (char *)NULL);
        return 0;
}

/* mkdir -p of a path on the node. Only the last directory gets `mode`; missing
 * parents get 0755 like a package would make them. Existing directories keep
 * their mode: the agent may own them already. */
static int make_dirs(const struct options *o, const char *path, mode_t mode, sv_error *err) {
        char buf[PATH_MAX];
        size_t len = strlen(path);
        if (len >= sizeof(buf))
                return sv_errorf(err, -ENAMETOOLONG, SV_CODE_INVALID_CONFIG, "path too long: %s",
                                 path);
        memcpy(buf, path, len + 1);
        while (len > 1 && buf[len - 1] == '/')
                buf[--len] = '\0';

        for (size_t i = 1; i <= len; i++) {
                if (i < len && buf[i] != '/')
                        continue;
                if (buf[i - 1] == '/')
                        continue;
                char saved = buf[i];
                buf[i] = '\0';
                int r = make_one_dir(o, buf, i == len ? mode : 0755);
                buf[i] = saved;
                if (r < 0)
                        return sv_errorf(err, r, SV_CODE_IO, "cannot create %s under %s: %s", buf,
                                         o->host_root, strerror(-r));
        }
        return 0;
}

/* The agent socket's directory (0750: the agent's group may connect) and the
 * state dir (0700: per-pod records are nobody else's business). The socket's
 * directory comes first: by default it is the state dir's parent, which must
 * not be created with the parents' 0755. */
static int make_runtime_dirs(const struct options *o, sv_error *err) {
        const char *slash = strrchr(o->entry.agent_socket, '/');
        if (slash != o->entry.agent_socket) { /* a socket in "/" needs nothing */
                _cleanup_free_ char *dir =
                        strndup(o->entry.agent_socket, (size_t)(slash - o->entry.agent_socket));
                if (!dir)
                        return -ENOMEM;
                int r = make_dirs(o, dir, 0750, err);
                if (r < 0)
                        return r;
        }
        return make_dirs(o, o->entry.state_dir, 0700, err);
}

/* Copies the plugin binary into the bin dir unless it is already there.
 * Returns 1 when it was written, 0 when it was up to date. The bin dir is
 * resolved on every call: a k3s upgrade moves data/current. */
static int install_binary(const struct options *o, sv_error *err) {
        _cleanup_free_ char *bin_dir = NULL, *dest = NULL, *data = NULL, *old = NULL;
        size_t len = 0, old_len = 0;
        int r = host_dir(o, "CNI bin dir", o->bin_dir, &bin_dir, err);
        if (r < 0)
                return r;
        r = join(bin_dir, SV_CNI_TYPE, &dest);
        if (r < 0)
                return r;
        r = sv_read_file_capped(o->source, BINARY_MAX, &data, &len);
        if (r < 0)
                return sv_errorf(err, r, SV_CODE_IO, "cannot read plugin binary %s: %s", o->source,
                                 strerror(-r));

        struct stat st;
        if (stat(dest, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0755 &&
            (size_t)st.st_size == len &&
            sv_read_file_capped(dest, BINARY_MAX, &old, &old_len) >= 0 && old_len == len &&
            memcmp(old, data, len) == 0)
                return 0;

        /* Temp file in the bin dir, fchmod 0755, fsync, rename: the runtime
         * never executes a half-written plugin. */
        r = sv_write_file_atomic(dest, data, len, 0755);
        if (r < 0)
                return sv_errorf(err, r, SV_CODE_IO, "cannot install %s: %s", dest, strerror(-r));
        char bytes[32];
        (void)snprintf(bytes, sizeof(bytes), "%zu", len);
        sv_log(SV_LOG_INFO, "installed plugin binary", "path", dest, "bytes", bytes, (char *)NULL);
        return 1;
}

struct names {
        char **v;
        size_t n;
};

static void names_done(struct names *ns) {
        for (size_t i = 0; i < ns->n; i++)
                free(ns->v[i]);
        free(ns->v);
        ns->v = NULL;
        ns->n = 0;
}

/* The names of the regular files (or symlinks to them) in dir that libcni
 * would load as network configurations. */
static int list_configs(const char *dir, struct names *out) {
        _cleanup_(closedirp) DIR *d = opendir(dir);
        if (!d)
                return negative_errno();
        _cleanup_(names_done) struct names ns = {0};
        for (;;) {
                errno = 0;
                struct dirent *de = readdir(d);
                if (!de) {
                        if (errno)
                                return negative_errno();
                        break;
                }
                if (!sv_cni_is_config_name(de->d_name))
                        continue;
                struct stat st;
                if (fstatat(dirfd(d), de->d_name, &st, 0) < 0 || !S_ISREG(st.st_mode))
                        continue;
                if (ns.n >= CONF_DIR_MAX_FILES)
                        return -E2BIG;
                char **v = reallocarray(ns.v, ns.n + 1, sizeof(*v));
                if (!v)
                        return -ENOMEM;
                ns.v = v;
                ns.v[ns.n] = strdup(de->d_name);
                if (!ns.v[ns.n])
                        return -ENOMEM;
                ns.n++;
        }
        *out = ns;
        ns = (struct names){0};
        return 0;
}

/* Whether path is still the file we read (same inode, size and mtime). */
static bool unchanged_since(const char *path, const struct stat *before) {
        struct stat st;
        return stat(path, &st) == 0 && st.st_dev == before->st_dev && st.st_ino == before->st_ino &&
               st.st_size == before->st_size && st.st_mtim.tv_sec == before->st_mtim.tv_sec &&
               st.st_mtim.tv_nsec == before->st_mtim.tv_nsec;
}

/* Reads a config file whole, with its stat for the mode and change checks. */
static int read_config(const char *path, struct stat *st, char **buf, size_t *len) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        if (fstat(fd, st) < 0)
                return negative_errno();
        return sv_read_fd_capped(fd, SV_CNI_CONFIG_MAX_BYTES, buf, len);
}

/* Converting name.conf into name.conflist must not clobber someone else's
 * list; replacing one we made earlier (the primary CNI rewrote its .conf) is
 * fine. */
static int check_conversion_target(const char *target, const char *source, sv_error *err) {
        _cleanup_free_ char *buf = NULL;
        _cleanup_json_ json_t *list = NULL;
        size_t len = 0;
        struct stat st;
        int r = read_config(target, &st, &buf, &len);
        if (r == -ENOENT)
                return 0;
        if (r >= 0)
                r = sv_conflist_parse(buf, len, &list, NULL);
        if (r >= 0 && sv_conflist_find_entry(list) >= 0)
                return 0;
        return sv_errorf(err, -EEXIST, SV_CODE_IO,
                         "refusing to convert %s: %s exists and was not written by selvedge-cni",
                         source, target);
}

/* One pass: puts our entry into the primary configuration. Returns 0 when it is
 * in place, PATCH_NO_PRIMARY or PATCH_EMPTY, -EAGAIN (nothing recorded in err)
 * when the file changed under us, or -errno. */
static int patch_primary_once(const struct options *o, const char *conf_dir, bool after_event,
                              sv_error *err) {
        _cleanup_(names_done) struct names ns = {0};
        int r = list_configs(conf_dir, &ns);
        if (r < 0)
                return sv_errorf(err, r, SV_CODE_IO, "cannot list %s: %s", conf_dir, strerror(-r));
        int i = sv_cni_pick_primary((const char *const *)ns.v, ns.n);
        if (i < 0)
                return PATCH_NO_PRIMARY;
        const char *name = ns.v[i];
        bool is_list = sv_cni_is_conflist_name(name);

        _cleanup_free_ char *path = NULL, *buf = NULL, *target = NULL, *out = NULL;
        size_t len = 0, out_len = 0;
        struct stat st;
        r = join(conf_dir, name, &path);
        if (r < 0)
                return r;
        r = read_config(path, &st, &buf, &len);
        if (r == -ENOENT)
                return -EAGAIN; /* gone between listing and opening */
        if (r == -EFBIG)
                return sv_errorf(err, r, SV_CODE_IO, "%s is larger than %d bytes", path,
                                 SV_CNI_CONFIG_MAX_BYTES);
        if (r < 0)
                return sv_errorf(err, r, SV_CODE_IO, "cannot read %s: %s", path, strerror(-r));
        if (len == 0)
                return PATCH_EMPTY;

        _cleanup_json_ json_t *list = NULL, *conf = NULL;
        if (is_list) {
                r = sv_conflist_parse(buf, len, &list, err);
        } else {
                r = sv_cni_conf_parse(buf, len, &conf, err);
                if (r >= 0)
                        r = sv_conflist_from_conf(conf, &list, err);
        }
        if (r < 0) {
                sv_error_prefix(err, "%s: ", path);
                return r;
        }

        bool had = sv_conflist_find_entry(list) >= 0;
        r = sv_conflist_set_entry(list, &o->entry, err);
        if (r < 0)
                return r;
        if (r == 0 && is_list) {
                sv_log(SV_LOG_DEBUG, "entry already in place", "file", path, (char *)NULL);
                return 0;
        }

        r = sv_conflist_dump(list, &out, &out_len);
        if (r < 0)
                return r;
        if (is_list) {
                target = strdup(path);
                if (!target)
                        return -ENOMEM;
        } else {
                _cleanup_free_ char *list_name = NULL;
                r = sv_cni_conflist_name_for(name, &list_name);
                if (r >= 0)
                        r = join(conf_dir, list_name, &target);
                if (r < 0)
                        return r;
                r = check_conversion_target(target, path, err);
                if (r < 0)
                        return r;
        }
        /* Narrows the race with a primary CNI rewriting the file right now: its
         * content would be lost under ours. */
        if (!unchanged_since(path, &st))
                return -EAGAIN;
        r = sv_write_file_atomic(target, out, out_len, st.st_mode & 07777);
        if (r < 0)
                return sv_errorf(err, r, SV_CODE_IO, "cannot write %s: %s", target, strerror(-r));
        if (!is_list) {
                /* After the list exists, so the node is never without a config. */
                if (unlink(path) < 0 && errno != ENOENT)
                        return sv_errorf(err, negative_errno(), SV_CODE_IO, "cannot remove %s: %s",
                                         path, strerror(errno));
                sv_log(SV_LOG_INFO, "converted network configuration to a list", "from", path, "to",
                       target, (char *)NULL);
        }
        const char *msg = had           ? "updated entry"
                          : after_event ? "re-added entry after the file was rewritten"
                                        : "added entry";
        sv_log(SV_LOG_INFO, msg, "file", target, "failurePolicy", o->entry.failure_policy,
               "agentSocket", o->entry.agent_socket, "stateDir", o->entry.state_dir, (char *)NULL);
        return 0;
}

static int patch_primary(const struct options *o, const char *conf_dir, bool after_event,
                         sv_error *err) {
        for (int i = 0;; i++) {
                int r = patch_primary_once(o, conf_dir, after_event, err);
                if (r != -EAGAIN)
                        return r;
                if (i == PATCH_RETRIES)
                        return sv_errorf(err, r, SV_CODE_TRY_AGAIN,
                                         "%s kept changing while being patched", conf_dir);
        }
}

/* Removes our entry from one list; files without it are not written. */
static int unpatch_file(const char *path, sv_error *err) {
        for (int i = 0; i <= PATCH_RETRIES; i++) {
                _cleanup_free_ char *buf = NULL, *out = NULL;
                _cleanup_json_ json_t *list = NULL;
                size_t len = 0, out_len = 0;
                struct stat st;
                sv_error perr = SV_ERROR_INIT;
                int r = read_config(path, &st, &buf, &len);
                if (r == -ENOENT)
                        return 0;
                if (r < 0)
                        return sv_errorf(err, r, SV_CODE_IO, "cannot read %s: %s", path,
                                         strerror(-r));
                if (sv_conflist_parse(buf, len, &list, &perr) < 0) {
                        /* Not a list we can read, so not one we patched. */
                        sv_log(SV_LOG_WARN, "skipping invalid network configuration", "file", path,
                               "error", perr.message, (char *)NULL);
                        return 0;
                }
                if (sv_conflist_remove_entry(list) == 0)
                        return 0;
                r = sv_conflist_dump(list, &out, &out_len);
                if (r < 0)
                        return r;
                if (!unchanged_since(path, &st))
                        continue;
                r = sv_write_file_atomic(path, out, out_len, st.st_mode & 07777);
                if (r < 0)
                        return sv_errorf(err, r, SV_CODE_IO, "cannot write %s: %s", path,
                                         strerror(-r));
                sv_log(SV_LOG_INFO, "removed entry", "file", path, (char *)NULL);
                return 0;
        }
        return sv_errorf(err, -EAGAIN, SV_CODE_TRY_AGAIN, "%s kept changing while being patched",
                         path);
}

/* Removes our entry from every list in the conf dir and the binary from the
 * bin dir. The state and socket dirs stay: they are the agent's. Keeps going
 * past a failure so one bad file does not leave the rest patched. */
static int uninstall(const struct options *o, sv_error *err) {
        _cleanup_free_ char *conf_dir = NULL, *bin_dir = NULL, *bin = NULL;
        _cleanup_(names_done) struct names ns = {0};
        int ret = host_dir(o, "CNI conf dir", o->conf_dir, &conf_dir, err);
        if (ret < 0)
                return ret;
        int r = list_configs(conf_dir, &ns);
        if (r < 0)
                return sv_errorf(err, r, SV_CODE_IO, "cannot list %s: %s", conf_dir, strerror(-r));
        for (size_t i = 0; i < ns.n; i++) {
                _cleanup_free_ char *path = NULL;
                if (!sv_cni_is_conflist_name(ns.v[i]))
                        continue;
                r = join(conf_dir, ns.v[i], &path);
                if (r >= 0)
                        r = unpatch_file(path, err);
                if (r < 0 && ret >= 0)
                        ret = r;
        }

        /* The binary last: a config naming a missing plugin fails every pod. */
        r = host_dir(o, "CNI bin dir", o->bin_dir, &bin_dir, err);
        if (r >= 0)
                r = join(bin_dir, SV_CNI_TYPE, &bin);
        if (r >= 0) {
                if (unlink(bin) == 0)
                        sv_log(SV_LOG_INFO, "removed plugin binary", "path", bin, (char *)NULL);
                else if (errno != ENOENT)
                        r = sv_errorf(err, negative_errno(), SV_CODE_IO, "cannot remove %s: %s",
                                      bin, strerror(errno));
        }
        return ret < 0 ? ret : r;
}

static void log_failure(const char *what, const sv_error *err, int r) {
        const char *why = err && sv_error_is_set(err) ? err->message : strerror(-r);
        sv_log(SV_LOG_ERROR, what, "error", why, (char *)NULL);
}

/* Reads every pending event. *relevant: a configuration file changed (or
 * events were lost); *gone: the directory itself went away. */
static int drain_events(int fd, bool *relevant, bool *gone) {
        char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
        for (;;) {
                ssize_t n = read(fd, buf, sizeof(buf));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return errno == EAGAIN ? 0 : negative_errno();
                }
                for (char *p = buf; p < buf + n;) {
                        const struct inotify_event *ev = (const struct inotify_event *)p;
                        if (ev->mask & IN_Q_OVERFLOW)
                                *relevant = true;
                        else if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF))
                                *gone = true;
                        else if (ev->len > 0 && sv_cni_is_config_name(ev->name))
                                *relevant = true;
                        p += sizeof(*ev) + ev->len;
                }
        }
}

/* One reconciliation in watch mode: failures are logged and retried on the
 * next change, because the primary CNI owns the file and may be mid-rewrite. */
static void watch_pass(const struct options *o, const char *conf_dir, bool after_event,
                       bool *waiting) {
        sv_error err = SV_ERROR_INIT;
        int r = install_binary(o, &err);
        if (r < 0) {
                log_failure("cannot install plugin binary", &err, r);
                return; /* never point a config at a missing plugin */
        }
        r = patch_primary(o, conf_dir, after_event, &err);
        if (r == PATCH_NO_PRIMARY || r == PATCH_EMPTY) {
                if (!*waiting)
                        sv_log(SV_LOG_INFO, "waiting for the primary CNI's network configuration",
                               "dir", conf_dir, (char *)NULL);
                *waiting = true;
                return;
        }
        *waiting = false;
        if (r < 0)
                log_failure("cannot patch network configuration", &err, r);
}

/* SIGTERM and SIGINT end the watch with exit 0 and, by default, leave the entry
 * and the binary in place. A DaemonSet rolling update stops the old pod before
 * the new one starts: removing the entry then would let pods created in that
 * window start unmeshed. --uninstall-on-exit is for the chart's uninstall path
 * (a pre-delete hook switches the DaemonSet to it, then deletes it), so that
 * no node is left with failurePolicy Fail and no agent behind it. */
static int run_watch(const struct options *o, const char *conf_dir) {
        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0) {
                log_failure("cannot block signals", NULL, negative_errno());
                return 1;
        }
        _cleanup_close_ int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        _cleanup_close_ int ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
        if (sfd < 0 || ifd < 0) {
                log_failure("cannot set up the watch", NULL, negative_errno());
                return 1;
        }
        /* Watch first, then look: a rewrite in between is still seen. */
        if (inotify_add_watch(ifd, conf_dir, WATCH_MASK) < 0) {
                log_failure("cannot watch the CNI conf dir", NULL, negative_errno());
                return 1;
        }
        sv_log(SV_LOG_INFO, "watching", "dir", conf_dir, (char *)NULL);

        bool waiting = false;
        watch_pass(o, conf_dir, false, &waiting);
        for (;;) {
                struct pollfd p[2] = {{.fd = sfd, .events = POLLIN}, {.fd = ifd, .events = POLLIN}};
                if (poll(p, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        log_failure("poll failed", NULL, negative_errno());
                        return 1;
                }
                if (p[0].revents) {
                        struct signalfd_siginfo si = {0};
                        if (read(sfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
                                continue;
                        sv_log(SV_LOG_INFO, "stopping", "signal",
                               si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT", "uninstall",
                               o->uninstall_on_exit ? "true" : "false", (char *)NULL);
                        if (!o->uninstall_on_exit)
                                return 0;
                        sv_error err = SV_ERROR_INIT;
                        int r = uninstall(o, &err);
                        if (r < 0)
                                log_failure("uninstall failed", &err, r);
                        return r < 0 ? 1 : 0;
                }
                if (p[1].revents) {
                        bool relevant = false, gone = false;
                        int r = drain_events(ifd, &relevant, &gone);
                        if (r < 0) {
                                log_failure("cannot read inotify events", NULL, r);
                                return 1;
                        }
                        if (gone) {
                                /* Exit so the pod restarts and finds the new directory. */
                                sv_log(SV_LOG_ERROR, "the CNI conf dir went away", "dir", conf_dir,
                                       (char *)NULL);
                                return 1;
                        }
                        if (relevant)
                                watch_pass(o, conf_dir, true, &waiting);
                }
        }
}

static int run_install(const struct options *o) {
        sv_error err = SV_ERROR_INIT;
        _cleanup_free_ char *conf_dir = NULL;
        int r = host_dir(o, "CNI conf dir", o->conf_dir, &conf_dir, &err);
        if (r >= 0)
                r = make_runtime_dirs(o, &err);
        /* The binary before the config: a config naming a missing plugin fails
         * every pod on the node. */
        if (r >= 0)
                r = install_binary(o, &err);
        if (r < 0) {
                log_failure("install failed", &err, r);
                return 1;
        }
        if (o->watch)
                return run_watch(o, conf_dir);

        r = patch_primary(o, conf_dir, false, &err);
        if (r == PATCH_NO_PRIMARY)
                r = sv_errorf(&err, -ENOENT, SV_CODE_IO,
                              "no CNI network configuration in %s yet: the primary CNI has not "
                              "written one (use --watch to wait for it)",
                              conf_dir);
        else if (r == PATCH_EMPTY)
                r = sv_errorf(&err, -ENODATA, SV_CODE_IO,
                              "the primary network configuration in %s is empty", conf_dir);
        if (r < 0) {
                log_failure("install failed", &err, r);
                return 1;
        }
        return 0;
}

static void usage(FILE *f, const char *verb) {
        if (strcmp(verb, "install") == 0)
                fputs("Usage: selvedge-cni install [--preset generic|k3s|k3d|microk8s] "
                      "[--host-root DIR]\n"
                      "         [--conf-dir DIR] [--bin-dir DIR] [--source PATH]\n"
                      "         [--failure-policy Fail|Ignore] [--agent-socket PATH] "
                      "[--state-dir PATH]\n"
                      "         [--watch [--uninstall-on-exit]]\n"
                      "Copies the plugin into the CNI bin dir and appends selvedge-cni to the\n"
                      "primary network configuration; --watch keeps it there.\n",
                      f);
        else
                fputs("Usage: selvedge-cni uninstall [--preset generic|k3s|k3d|microk8s] "
                      "[--host-root DIR]\n"
                      "         [--conf-dir DIR] [--bin-dir DIR]\n"
                      "Removes selvedge-cni from every network configuration list and the bin "
                      "dir.\n",
                      f);
}

static int usage_error(const char *verb, const char *fmt, ...) _printf_(2, 3);
static int usage_error(const char *verb, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "selvedge-cni %s: ", verb);
        vfprintf(stderr, fmt, ap);
        fprintf(stderr, "\nTry 'selvedge-cni %s --help'.\n", verb);
        va_end(ap);
        return -EINVAL;
}

/* Returns 0, 1 for --help (done), or -EINVAL after printing the problem. */
static int parse_args(int argc, char *argv[], struct options *o) {
        enum {
                OPT_PRESET = 0x100,
                OPT_HOST_ROOT,
                OPT_CONF_DIR,
                OPT_BIN_DIR,
                OPT_SOURCE,
                OPT_FAILURE_POLICY,
                OPT_AGENT_SOCKET,
                OPT_STATE_DIR,
                OPT_WATCH,
                OPT_UNINSTALL_ON_EXIT,
                OPT_HELP,
        };
        static const struct option opts[] = {
                {"preset", required_argument, NULL, OPT_PRESET},
                {"host-root", required_argument, NULL, OPT_HOST_ROOT},
                {"conf-dir", required_argument, NULL, OPT_CONF_DIR},
                {"bin-dir", required_argument, NULL, OPT_BIN_DIR},
                {"source", required_argument, NULL, OPT_SOURCE},
                {"failure-policy", required_argument, NULL, OPT_FAILURE_POLICY},
                {"agent-socket", required_argument, NULL, OPT_AGENT_SOCKET},
                {"state-dir", required_argument, NULL, OPT_STATE_DIR},
                {"watch", no_argument, NULL, OPT_WATCH},
                {"uninstall-on-exit", no_argument, NULL, OPT_UNINSTALL_ON_EXIT},
                {"help", no_argument, NULL, OPT_HELP},
                {0},
        };
        const char *verb = argv[1];
        const struct preset *preset = &presets[0];
        const char *install_only = NULL;
        *o = (struct options){
                .install = strcmp(verb, "install") == 0,
                .verb = verb,
                .host_root = "/",
                .source = "/proc/self/exe",
                .entry = {.failure_policy = "Fail",
                          .agent_socket = "/run/selvedge/agent.sock",
                          .state_dir = NETCONF_DEFAULT_STATE_DIR},
        };

        /* getopt sees the verb as its argv[0]; optind 0 resets its state. */
        opterr = 0;
        optind = 0;
        for (;;) {
                int idx = -1;
                int c = getopt_long(argc - 1, argv + 1, "+:", opts, &idx);
                if (c == -1)
                        break;
                /* For '?' and ':' optind is just past the offending word. */
                if (c == '?')
                        return usage_error(verb, "unknown option \"%s\"", argv[optind]);
                if (c == ':')
                        return usage_error(verb, "option \"%s\" needs a value", argv[optind]);
                const char *cur = idx >= 0 ? opts[idx].name : "?";
                if (optarg && (!*optarg || strlen(optarg) >= SV_CNI_PATH_MAX))
                        return usage_error(verb, "option \"--%s\" needs a value of sane length",
                                           cur);
                switch (c) {
                case OPT_PRESET:
                        preset = NULL;
                        for (size_t i = 0; i < ARRAY_SIZE(presets); i++)
                                if (strcmp(optarg, presets[i].name) == 0)
                                        preset = &presets[i];
                        if (!preset)
                                return usage_error(verb,
                                                   "unknown preset \"%s\" (want generic, k3s, "
                                                   "k3d or microk8s)",
                                                   optarg);
                        break;
                case OPT_HOST_ROOT:
                        o->host_root = optarg;
                        break;
                case OPT_CONF_DIR:
                        o->conf_dir = optarg;
                        break;
                case OPT_BIN_DIR:
                        o->bin_dir = optarg;
                        break;
                case OPT_SOURCE:
                        o->source = optarg;
                        install_only = cur;
                        break;
                case OPT_FAILURE_POLICY:
                        o->entry.failure_policy = optarg;
                        install_only = cur;
                        break;
                case OPT_AGENT_SOCKET:
                        o->entry.agent_socket = optarg;
                        install_only = cur;
                        break;
                case OPT_STATE_DIR:
                        o->entry.state_dir = optarg;
                        install_only = cur;
                        break;
                case OPT_WATCH:
                        o->watch = true;
                        install_only = cur;
                        break;
                case OPT_UNINSTALL_ON_EXIT:
                        o->uninstall_on_exit = true;
                        install_only = cur;
                        break;
                case OPT_HELP:
                        usage(stdout, verb);
                        return 1;
                default:
                        return usage_error(verb, "cannot parse option \"--%s\"", cur);
                }
        }
        if (optind + 1 < argc)
                return usage_error(verb, "unexpected argument \"%s\"", argv[optind + 1]);
        if (!o->install && install_only)
                return usage_error(verb, "option \"--%s\" is for install only", install_only);
        if (o->uninstall_on_exit && !o->watch)
                return usage_error(verb, "%s needs --watch", "--uninstall-on-exit");
        if (!o->conf_dir)
                o->conf_dir = preset->conf_dir;
        if (!o->bin_dir)
                o->bin_dir = preset->bin_dir;

        sv_error err = SV_ERROR_INIT;
        if (o->install && sv_cni_entry_validate(&o->entry, &err) < 0)
                return usage_error(verb, "%s", err.message);
        return 0;
}

int installer_main(int argc, char *argv[]) {
        sv_log_setup("selvedge-cni", SV_LOG_INFO, STDERR_FILENO);
        struct options o;
        int r = parse_args(argc, argv, &o);
        if (r != 0)
                return r > 0 ? 0 : EXIT_USAGE;
        if (o.install)
                return run_install(&o);

        sv_error err = SV_ERROR_INIT;
        r = uninstall(&o, &err);
        if (r < 0) {
                log_failure("uninstall failed", &err, r);
                return 1;
        }
        return 0;
}
