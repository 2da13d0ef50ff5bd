# shellcheck shell=bash
# Shared settings for the hack/ scripts. Source it; it defines no side effects
# beyond variables.
SELVEDGE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SELVEDGE_CACHE=${SELVEDGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/selvedge}
SELVEDGE_BIN=$SELVEDGE_CACHE/bin
# shellcheck source=hack/versions.env
. "$SELVEDGE_ROOT/hack/versions.env"
export SELVEDGE_ROOT SELVEDGE_CACHE SELVEDGE_BIN

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
