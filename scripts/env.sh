# Source this file (`source scripts/env.sh`) to use selfpose_ros on a machine set up by bootstrap.sh.
# It activates the venv, points the ROS 2 build/run environment at the wheels, overlays the interface
# packages and this package's install space, and keeps DDS on this machine.
_sp_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_sp_venv="${SELFPOSE_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/selfpose_ros/venv}"
_sp_u=$-; set +u
# shellcheck disable=SC1091
source "$_sp_venv/bin/activate"
export AMENT_PREFIX_PATH="$_sp_venv${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export CMAKE_PREFIX_PATH="$_sp_venv${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
export RMW_IMPLEMENTATION="${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}"
# DDS stays on loopback. ROS_LOCALHOST_ONLY is the Humble spelling; Kilted warns about it, so only set it there.
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
[ "${ROS_DISTRO:-}" = "humble" ] && export ROS_LOCALHOST_ONLY=1
[ -f "$_sp_root/.deps/install/setup.bash" ] && source "$_sp_root/.deps/install/setup.bash"
[ -f "$_sp_root/install/setup.bash" ] && source "$_sp_root/install/setup.bash"
case $_sp_u in *u*) set -u ;; esac
unset _sp_root _sp_venv _sp_u
