#!/usr/bin/env bash
# Creates or refreshes the project's Python venv (.venv) from infra/requirements.txt. Idempotent: a stamp
# holding the requirements' checksum skips the install when nothing changed.
source "$(dirname "$0")/common.sh"

requirements="$ROOT/infra/requirements.txt"
stamp="$VENV/.requirements.sha256"
want="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  exit 0
fi
command -v python3 >/dev/null || die "python3 is required (3.10 or newer)"
log "installing the local stack's Python tools into .venv (moto, cfn-lint)"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
echo "$want" >"$stamp"
