#!/usr/bin/env bash
# Remove what a SIGKILLed harness run left behind (see fwg_cleanup_stale).
set -u
# shellcheck source=tests/netns/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
fwg_require_root
fwg_cleanup_stale
