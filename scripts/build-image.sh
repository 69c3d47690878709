#!/usr/bin/env bash
# Build the lava-sidecar image on a machine without Docker Hub or a Docker engine: podman + runc,
# a debootstrap'd Debian base (cached), a local python:3.11-slim stand-in (only when the real one
# is absent), and wheels fetched on the host (container pip cannot verify TLS here) and installed
# offline from the build context. Idempotent; prints the image name and size.
# Usage: scripts/build-image.sh [TAG]        (default localhost/lava-sidecar:<version>)
# Env:   BUILD_DIR (default .build/image), LAVA_IMAGE_ONLINE=1 to let pip in the build use PyPI.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${BUILD_DIR:-$root/.build/image}
export CONTAINERS_CONF=${CONTAINERS_CONF:-$root/scripts/containers.conf}
python=${PYTHON:-}
[ -z "$python" ] && [ -x "$root/.venv/bin/python" ] && python="$root/.venv/bin/python"
python=${python:-python3}
version=$("$python" -c 'import tomllib;print(tomllib.load(open("pyproject.toml","rb"))["project"]["version"])')
tag=${1:-localhost/lava-sidecar:$version}
base=localhost/bookworm:minbase
slim=docker.io/library/python:3.11-slim
mkdir -p "$build"
log() { echo "::: $*" >&2; }

for tool in podman; do
  command -v "$tool" >/dev/null || { echo "$tool not found (apt-get install podman runc)" >&2; exit 3; }
done

# 1. python:3.11-slim: the real one when it can be pulled, else a stand-in on a debootstrap base.
if ! podman image exists "$slim"; then
  if ! timeout 60 podman pull -q "$slim" >/dev/null 2>&1; then
    if ! podman image exists "$base"; then
      command -v debootstrap >/dev/null || { echo "debootstrap not found" >&2; exit 3; }
      tarball="$build/bookworm-minbase.tar"
      if [ ! -s "$tarball" ]; then
        log "debootstrap bookworm (once; cached in $tarball)"
        mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
        rootfs=$(mktemp -d "$build/rootfs.XXXXXX")
        debootstrap --variant=minbase --include=ca-certificates bookworm "$rootfs" \
          "${mirror:-http://deb.debian.org/debian}" >"$build/debootstrap.log" 2>&1 \
          || { tail -20 "$build/debootstrap.log" >&2; echo "debootstrap failed" >&2; exit 3; }
        rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
        tar -C "$rootfs" -cf "$tarball.part" . && mv "$tarball.part" "$tarball"
        rm -rf "$rootfs"
      fi
      log "import $base"
      podman import -q --change 'CMD ["/bin/bash"]' "$tarball" "$base" >/dev/null
    fi
    log "build the python:3.11-slim stand-in"
    podman build -q --network=host --pull=never -t "$slim" scripts/python-slim-standin >/dev/null \
      || { echo "cannot build the python:3.11-slim stand-in" >&2; exit 3; }
  fi
fi

# 2. Build context: the repo's build inputs plus wheels/ (runtime deps + build backend).
ctx="$build/context"
rm -rf "$ctx.new" && mkdir -p "$ctx.new/wheels"
cp Dockerfile .dockerignore pyproject.toml README.md "$ctx.new/"
[ -f LICENSE ] && cp LICENSE "$ctx.new/"
cp -r proxy "$ctx.new/proxy"
find "$ctx.new/proxy" -name __pycache__ -prune -exec rm -rf {} +
if [ "${LAVA_IMAGE_ONLINE:-0}" != 1 ]; then
  wheels="$build/wheels"   # kept between runs: pip download skips what is already there
  mkdir -p "$wheels"
  "$python" - > "$build/requirements.txt" <<'PY'
import tomllib
p = tomllib.load(open("pyproject.toml", "rb"))
extras = [d for e in p["tool"]["lava-sidecar"]["image-extras"] for d in p["project"]["optional-dependencies"][e]]
# redis needs async-timeout on Pythons before 3.11.3 (the image's may be one); pip download judges
# markers by this host's Python, so name it outright.
extras += ["async-timeout>=4.0.3"] if "redis" in p["tool"]["lava-sidecar"]["image-extras"] else []
print("\n".join(p["project"]["dependencies"] + extras + p["build-system"]["requires"] + ["wheel"]))
PY
  log "fetch wheels on the host"
  "$python" -m pip download -q --disable-pip-version-check --only-binary=:all: \
    --python-version 3.11 --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 \
    --platform manylinux_2_17_x86_64 --implementation cp --abi cp311 --abi abi3 --abi none \
    -d "$wheels" -r "$build/requirements.txt" 2> >(grep -v "^WARNING: Location" >&2)
  cp "$wheels"/*.whl "$ctx.new/wheels/"
fi
rm -rf "$ctx" && mv "$ctx.new" "$ctx"

# 3. The image. --format docker keeps HEALTHCHECK (the OCI format has no such field).
revision=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
log "build $tag"
podman build --format docker --pull=never \
  --build-arg VERSION="$version" --build-arg REVISION="$revision" \
  --build-arg CREATED="$(git log -1 --format=%cI 2>/dev/null || echo unknown)" \
  -t "$tag" "$ctx" >"$build/build.log" 2>&1 || { tail -30 "$build/build.log" >&2; exit 1; }
# Superseded builds of this image (and its build stage) only; other images are left alone.
for title in lava-sidecar lava-sidecar-build; do
  podman image prune -f --filter "label=org.opencontainers.image.title=$title" >/dev/null 2>&1 || true
done
size=$(podman image inspect --format '{{.Size}}' "$tag")
echo "$tag $(( size / 1000000 )) MB ($size bytes)"
