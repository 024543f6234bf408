#!/usr/bin/env bash
# infra/dev/kubectl.sh -- prints the path of a kubectl that can render the manifests of
# infra/kubernetes (`kubectl kustomize`), installing one first when there is none:
#   bash infra/dev/kubectl.sh
# In order: $KUBECTL; a `kubectl` on PATH; the copy in the cache folder
# ($RECONCILER_CACHE/kubectl); else Debian's package `kubernetes-client` (kubectl 1.20 with
# kustomize 2 on Debian 12), fetched with `apt-get download` and unpacked with `dpkg-deb`
# (only usr/bin/kubectl is kept; nothing is installed on the host). The kustomizations use
# only forms that kustomize 2 and 5 both read, and infra/test/Kubernetes.test.ts checks the
# rendered objects, not the text, so either renders them.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DIR="$CACHE_DIR/kubectl"
renders() { [ -x "$1" ] && "$1" kustomize --help >/dev/null 2>&1; }

if [ -n "${KUBECTL:-}" ]; then
  renders "$KUBECTL" || die "KUBECTL=$KUBECTL cannot run 'kubectl kustomize'"
  echo "$KUBECTL"
elif command -v kubectl >/dev/null && renders "$(command -v kubectl)"; then
  command -v kubectl
elif renders "$DIR/kubectl"; then
  echo "$DIR/kubectl"
else
  command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null ||
    die "no kubectl and no apt-get/dpkg-deb to fetch one: install kubectl (>= 1.14) or set KUBECTL"
  tmp=$(mktemp -d)
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" EXIT
  log "fetching kubectl: apt-get download kubernetes-client"
  if ! (cd "$tmp" && apt-get download -q kubernetes-client) >"$tmp/apt.log" 2>&1; then
    [ "$(id -u)" -eq 0 ] || { cat "$tmp/apt.log" >&2; die "apt-get download kubernetes-client failed; run 'apt-get update' as root, or set KUBECTL"; }
    log "apt-get update (the package lists are missing or stale), then again"
    apt-get update -q >"$tmp/update.log" 2>&1 || { cat "$tmp/update.log" >&2; die "apt-get update failed"; }
    (cd "$tmp" && apt-get download -q kubernetes-client) >"$tmp/apt.log" 2>&1 ||
      { cat "$tmp/apt.log" >&2; die "apt-get download kubernetes-client failed; or set KUBECTL"; }
  fi
  dpkg-deb --fsys-tarfile "$tmp"/kubernetes-client_*.deb | tar -x -C "$tmp" ./usr/bin/kubectl ||
    die "could not unpack usr/bin/kubectl"
  renders "$tmp/usr/bin/kubectl" || die "the kubectl of Debian's kubernetes-client does not run here"
  rm -rf "$DIR" && mkdir -p "$DIR" && mv "$tmp/usr/bin/kubectl" "$DIR/kubectl"
  log "installed $("$DIR/kubectl" version --client 2>/dev/null | head -1) into $DIR"
  echo "$DIR/kubectl"
fi
