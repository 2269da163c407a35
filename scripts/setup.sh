#!/usr/bin/env bash
# setup.sh prepares this machine to build faultline's images and run its
# tests. It is idempotent: it installs mmdebstrap when missing (and, with
# --browser, chromium, which only the report's browser test needs), then
# checks that go and a Docker engine are usable, with a one-line error
# otherwise. CI=true makes it quiet and non-interactive.
#   make run  -> scripts/setup.sh            (no browser)
#   make test -> scripts/setup.sh --browser
set -euo pipefail

browser=false
for arg in "$@"; do
	case "$arg" in
	--browser) browser=true ;;
	*) echo "setup: unknown argument $arg (want --browser or nothing)" >&2; exit 2 ;;
	esac
done

quiet=false
[ "${CI:-}" = true ] && quiet=true

die() { echo "setup: $*" >&2; exit 1; }
say() { $quiet || echo "setup: $*"; }

as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		die "need root (or sudo) to run: $*"
	fi
}

apt_quiet=()
$quiet && apt_quiet=(-qq -o Dpkg::Use-Pty=0)

apt_install() {
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "${apt_quiet[@]}" "$@"
}

# mmdebstrap builds the Debian root file system of faultline's base image
# from the host's apt sources (no registry needed).
if ! command -v mmdebstrap >/dev/null 2>&1; then
	command -v apt-get >/dev/null 2>&1 ||
		die "mmdebstrap is missing and there is no apt-get to install it (faultline's base image needs a Debian-like host)"
	say "installing mmdebstrap"
	# Stale package lists are the usual failure; refresh them only then.
	if ! apt_install mmdebstrap >/dev/null 2>&1; then
		say "install failed; running apt-get update and retrying"
		as_root env DEBIAN_FRONTEND=noninteractive apt-get update "${apt_quiet[@]}" >/dev/null ||
			die "apt-get update failed: check /etc/apt/sources.list.d and the network"
		apt_install mmdebstrap >/dev/null || die "apt-get install mmdebstrap failed"
	fi
fi
[ -d /usr/share/mmdebstrap/hooks/merged-usr ] ||
	die "mmdebstrap has no merged-usr hooks (/usr/share/mmdebstrap/hooks/merged-usr): mmdebstrap 1.0 or newer (Debian 12) is needed"

# Headless Chromium runs the report's browser test (cmd/faultline
# TestBrowser), which fails under CI=true without it. Debian's package, no
# recommends: about 20 s and 25 packages on a clean machine.
if $browser && ! command -v chromium >/dev/null 2>&1; then
	command -v apt-get >/dev/null 2>&1 ||
		die "chromium is missing and there is no apt-get to install it (the browser test needs it)"
	say "installing chromium"
	if ! apt_install --no-install-recommends chromium >/dev/null 2>&1; then
		say "install failed; running apt-get update and retrying"
		as_root env DEBIAN_FRONTEND=noninteractive apt-get update "${apt_quiet[@]}" >/dev/null ||
			die "apt-get update failed: check /etc/apt/sources.list.d and the network"
		apt_install --no-install-recommends chromium >/dev/null || die "apt-get install chromium failed"
	fi
fi

command -v go >/dev/null 2>&1 ||
	die "go not found in PATH: install Go (https://go.dev/dl) and add its bin directory to PATH"
go_version=$(GOTOOLCHAIN=local go env GOVERSION 2>/dev/null) ||
	die "the go command in PATH does not run: $(command -v go)"

command -v docker >/dev/null 2>&1 ||
	die "docker CLI not found in PATH: install Docker (apt-get install docker.io)"
engine=$(docker version --format '{{.Server.Version}}' 2>/dev/null) ||
	die "the Docker engine does not answer${DOCKER_HOST:+ at $DOCKER_HOST}: is dockerd running and may this user use it?"

[ "$(id -u)" -eq 0 ] ||
	say "note: building the base image runs mmdebstrap as root; run faultline as root the first time"
browser_version=""
$browser && browser_version=", $(chromium --version 2>/dev/null | head -1)"
say "ok: $(mmdebstrap --version), $go_version, Docker engine $engine$browser_version"
