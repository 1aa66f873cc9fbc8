#!/usr/bin/env bash
# Make (or refresh) the teacher venv for `hand3d label`: MediaPipe Hands 0.10.14 with the
# exact pins of tools/teacher_requirements.txt, in its own venv (default .venv-teacher),
# because it needs numpy < 2 and protobuf < 5. The package and its own venv never import
# mediapipe: `hand3d label` runs hand3d_ros/teacher/worker.py with this venv's python.
# Idempotent: skipped when the pins have not changed and the teacher starts.
# Usage: tools/teacher_env.sh     (TEACHER_VENV=.venv-teacher PYTHON=python3 may be overridden)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${TEACHER_VENV:-$ROOT/.venv-teacher}
PYTHON=${PYTHON:-python3}
REQ=$ROOT/tools/teacher_requirements.txt
WORKER=$ROOT/hand3d_ros/hand3d_ros/teacher/worker.py
STAMP=$VENV/.hand3d-teacher-stamp
VPY=$VENV/bin/python

say() { printf '[teacher] %s\n' "$*"; }
die() { printf '[teacher] error: %s\n' "$*" >&2; exit 1; }

command -v "$PYTHON" >/dev/null || die "$PYTHON not found: install Python 3.10-3.12 (mediapipe 0.10.14 has no wheel for newer)"
HASH=$(sha256sum "$REQ" | cut -d" " -f1)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$HASH" ] && "$VPY" "$WORKER" --version >/dev/null 2>&1; then
  say "ready: $VENV"
  exit 0
fi
if [ ! -x "$VPY" ]; then
  say "creating $VENV"
  "$PYTHON" -m venv "$VENV" || die "'$PYTHON -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv)"
fi
say "installing MediaPipe Hands and its pins (first time: a few minutes, ~500 MB)"
"$VPY" -m pip install -q --disable-pip-version-check --no-deps -r "$REQ" 2>&1 \
  | grep -v "is ignored: it is neither a file nor a directory" || true
VERSION=$("$VPY" "$WORKER" --version 2>/dev/null | tail -n 1) || die "the teacher does not start (pip install of $REQ failed? see above)"
echo "$HASH" >"$STAMP"
say "ready: $VENV ($VERSION)"
