/* SPDX-License-Identifier: Apache-2.0 */
/* The operator's side of the CNI hand-off (docs/cni.md): a Unix socket where
 * selvedge-cni announces each pod it wires (add), forgets (del) or asks
 * whether the agent can serve (status), and the attachment records the plugin
 * leaves in its state directory, read at start so pods wired while the agent
 * was down are meshed as soon as it is up. An attachment gives a local pod
 * its addresses before the kubelet has reported them, so policy holds from the
 * pod's first packet. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "base/error.h"
#include "base/hashmap.h"
#include "operator/objects.h"

#define SV_AGENT_REQUEST_MAX (64 * 1024)

typedef struct sv_attachment {
        char *chain; /* the plugin's key for the attachment */
        char *namespace, *name;
        char ips[SV_POD_IPS][SV_IP_MAX];
        unsigned n_ips;
} sv_attachment;

void sv_attachment_free(void *a);
/* From a plugin's record or the "pod" of an add request. */
int sv_attachment_from_record(const json_t *record, sv_attachment **out, sv_error *err);

/* Reads every record in <state_dir>/pods/ into attachments (chain -> item).
 * A missing directory is no error; unreadable records are skipped and
 * counted in *skipped. */
int sv_attachments_load(const char *state_dir, sv_hashmap *attachments, unsigned *skipped);

typedef struct sv_agent sv_agent;

/* Listens on path (its directory is created 0700, a stale socket replaced,
 * the socket made 0600). Only root may connect: the kubelet runs CNI as root. */
int sv_agent_listen(const char *path, sv_agent **out, sv_error *err);
sv_agent *sv_agent_free(sv_agent *a);
DEFINE_TRIVIAL_CLEANUP_FUNC(sv_agent *, sv_agent_free);
int sv_agent_fd(const sv_agent *a);

/* Accepts one connection and reads its request (bounded in size and time).
 * -EAGAIN when no connection is pending. The caller answers with
 * sv_agent_reply, which closes the connection. */
int sv_agent_accept(sv_agent *a, int *conn, json_t **request, sv_error *err);
void sv_agent_reply(int conn, json_t *answer);
