# Sourced by scripts/deps.d/*.sh: apt_install PACKAGE WHY
# Installs a Debian package as root, or with passwordless sudo (GitHub's runners); otherwise says
# why the tests that need it will skip, and returns 0. The package may start a system service:
# it is stopped, since the tests start their own servers on free ports.
apt_install() {
  local package="$1" why="$2" as_root=()
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      as_root=(sudo -n)
    else
      echo "$why: sudo apt-get install $package" >&2
      return 0
    fi
  fi
  "${as_root[@]}" apt-get update -qq
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$package" >/dev/null
  ("${as_root[@]}" systemctl stop "$package" 2>/dev/null || "${as_root[@]}" service "$package" stop 2>/dev/null || true) >/dev/null 2>&1
}
