#!/usr/bin/env bash
# Fetch the rigged WebXR hand meshes used by the synthetic renderer (hand3d render).
#
# Usage: tools/fetch_hand_assets.sh [DEST]
#   DEST defaults to $HAND3D_ASSET_DIR, else <repo>/cache/assets/webxr-hand.
#
# Source: the npm package @webxr-input-profiles/assets (MIT licence, (c) 2019 Amazon),
# fetched with `npm pack` at a pinned version. Only dist/profiles/generic-hand/left.glb,
# right.glb and the package's LICENSE.md are kept. Idempotent: if DEST already holds
# the three files with the recorded sha256 sums, nothing is downloaded.
# On failure: exit status 1 and one readable line on stderr.
set -euo pipefail

PACKAGE="@webxr-input-profiles/assets"
VERSION="1.0.20"
TARBALL="webxr-input-profiles-assets-${VERSION}.tgz"
TARBALL_SHA256="30df2a2268220fc0d0e034bed1550aabdd7a2500573c5216f64fc70d59c3d91e"
# file name in DEST | path inside the tarball | sha256
FILES=(
  "left.glb|package/dist/profiles/generic-hand/left.glb|bc67783144944ea1cda54d9247885825ea5fb9d4651469fe7d00be517a5c2b87"
  "right.glb|package/dist/profiles/generic-hand/right.glb|291790c14f7f88a7f9bd35330c47392ed8e8d395ae6728f4bb7089f1bc1f2b96"
  "LICENSE.md|package/LICENSE.md|0ef0c87e8ffdd0681f332dc3b39f284dee2166d1f853fabc3853884fe81a6f30"
)

fail() { echo "fetch_hand_assets: $*" >&2; exit 1; }

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${1:-${HAND3D_ASSET_DIR:-$repo_root/cache/assets/webxr-hand}}"

command -v sha256sum >/dev/null 2>&1 || fail "sha256sum not found (coreutils)"
sha_of() { sha256sum "$1" | cut -d' ' -f1; }

all_present() {
  local entry name sum
  for entry in "${FILES[@]}"; do
    IFS='|' read -r name _ sum <<<"$entry"
    [[ -f "$dest/$name" ]] || return 1
    [[ "$(sha_of "$dest/$name")" == "$sum" ]] || return 1
  done
}

if all_present; then
  echo "fetch_hand_assets: $PACKAGE@$VERSION already in $dest"
  exit 0
fi

command -v npm >/dev/null 2>&1 || fail "npm not found (install Node.js/npm, e.g. apt-get install npm)"
mkdir -p "$dest" || fail "cannot create $dest"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

(cd "$work" && npm pack --silent "$PACKAGE@$VERSION" >"$work/npm.log" 2>&1) \
  || fail "npm pack $PACKAGE@$VERSION failed: $(tail -n 1 "$work/npm.log")"
[[ -f "$work/$TARBALL" ]] || fail "npm pack did not produce $TARBALL"
[[ "$(sha_of "$work/$TARBALL")" == "$TARBALL_SHA256" ]] \
  || fail "sha256 of $TARBALL does not match the recorded one (registry content changed?)"

members=()
for entry in "${FILES[@]}"; do
  IFS='|' read -r _ member _ <<<"$entry"
  members+=("$member")
done
tar -xzf "$work/$TARBALL" -C "$work" "${members[@]}" 2>"$work/tar.log" \
  || fail "cannot extract the hand meshes from $TARBALL: $(tail -n 1 "$work/tar.log")"

for entry in "${FILES[@]}"; do
  IFS='|' read -r name member sum <<<"$entry"
  [[ "$(sha_of "$work/$member")" == "$sum" ]] || fail "sha256 mismatch for $member"
  cp "$work/$member" "$dest/$name.tmp" && mv -f "$dest/$name.tmp" "$dest/$name" \
    || fail "cannot write $dest/$name"
done
echo "fetch_hand_assets: $PACKAGE@$VERSION -> $dest"
