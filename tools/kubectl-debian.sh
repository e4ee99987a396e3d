#!/bin/sh
# kubectl-debian.sh - print the path of the kubectl that Debian's kubernetes-client package
# installed (at /usr/bin/kubectl, or where tools/deps.sh diverted it when another kubectl held
# that path), or say why there is none and exit 1. Tests use this binary, never whichever kubectl
# comes first on PATH.
set -eu

st=$(dpkg-query -W -f='${Status}' kubernetes-client 2>/dev/null || true)
if [ "$st" != "install ok installed" ]; then
	echo "kubectl-debian: Debian's kubernetes-client is not installed (make deps)" >&2
	exit 1
fi
path=/usr/bin/kubectl
diverter=$(dpkg-divert --listpackage /usr/bin/kubectl)
# a diversion by another package (or a local one, listed as LOCAL) moved kubernetes-client's copy
if [ -n "$diverter" ] && [ "$diverter" != kubernetes-client ]; then
	path=$(dpkg-divert --truename /usr/bin/kubectl)
fi
if [ ! -x "$path" ]; then
	echo "kubectl-debian: kubernetes-client is installed but '$path' is not executable" >&2
	exit 1
fi
echo "$path"
