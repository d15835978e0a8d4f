#!/usr/bin/env bash
# Create .venv (or $ZOO_VENV) with zoo-core and every plugin under plugins/, editable, with
# their test tools. A second run that finds all of it installed returns in about a second.
#
# torch: a venv without one gets the CPU build of ${ZOO_TORCH:-torch==2.13.0}, asked for
#   explicitly from PyTorch's CPU index ($ZOO_TORCH_INDEX, default below), so pip never
#   resolves "torch>=2.2" to a CUDA build with several GB of nvidia-* packages. Where that
#   index cannot be reached (15 s, no retries), pip's default index is used instead, which
#   on Linux x86_64 serves the CUDA build; a line says which build came from where. A venv
#   that already has a torch keeps it. ZOO_TORCH chooses another requirement (e.g.
#   ZOO_TORCH=torch==2.5.1); ZOO_TORCH_INDEX= (empty) goes straight to the default index.
# asap3 (zoo-plugin-ase[fast], a compiled EMT) is built from source where a C/C++ compiler
#   and the Python headers are found (about a minute the first time; pip caches the wheel).
#   A failed build is reported and never fails the setup: ASE's own EMT works without it.
# Nothing to do: a stamp in the venv holds a hash of this script and every pyproject.toml.
#   While it matches, and every project is installed from this checkout with what it
#   requires, nothing is installed (the installs are editable: code changes need none).
#   ZOO_SETUP_FORCE=1 installs anyway.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${ZOO_VENV:-$here/.venv}"
python="${PYTHON:-python3}"
cpu_index="${ZOO_TORCH_INDEX-https://download.pytorch.org/whl/cpu}"
stamp="$venv/zoo-setup.stamp"

# Dependencies first: pip (23.x) resolves a local editable project's requirement on another
# local project only if that one came earlier on the command line (pypa/pip#8785), so the
# core, then the shared zoo-atomistic, then the plugins that depend on them.
projects=("$here")
[ -f "$here/plugins/zoo-atomistic/pyproject.toml" ] && projects+=("$here/plugins/zoo-atomistic")
for plugin in "$here"/plugins/*/; do
    [ "${plugin%/}" = "$here/plugins/zoo-atomistic" ] && continue
    [ -f "$plugin/pyproject.toml" ] && projects+=("${plugin%/}")
done

[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
py="$venv/bin/python"
pip=("$py" -m pip install --quiet --disable-pip-version-check)

# Prints the hash of this script and the projects' pyproject.toml files, then "current" when
# the stamp holds that hash, torch imports and each project is installed editable from its
# folder with everything it requires (its [test] extra included, recursively), else "stale".
setup_state() {
    "$py" - "${BASH_SOURCE[0]}" "$stamp" "${projects[@]}" <<'PY'
import hashlib, importlib.util, json, sys
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote, urlparse

script, stamp, projects = Path(sys.argv[1]), Path(sys.argv[2]), [Path(p).resolve() for p in sys.argv[3:]]
digest = hashlib.sha256(script.read_bytes())
for project in projects:
    digest.update(str(project).encode() + b"\0" + (project / "pyproject.toml").read_bytes())
want = digest.hexdigest()

def requirements_met(name, extras, seen):
    """Is ``name`` installed with every requirement of it and of ``extras``, recursively?"""
    if (name.lower(), extras) in seen:
        return True
    seen.add((name.lower(), extras))
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return False
    for line in dist.requires or []:
        req = Requirement(line)
        if req.marker and not any(req.marker.evaluate({"extra": e}) for e in ("", *extras)):
            continue
        try:
            version = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            return False
        if not req.specifier.contains(version, prereleases=True):
            return False
        if not requirements_met(req.name, frozenset(req.extras), seen):
            return False
    return True

def current():
    if not stamp.is_file() or stamp.read_text().split()[:1] != [want]:
        return False
    if importlib.util.find_spec("torch") is None:
        return False
    editable = {}
    for dist in metadata.distributions():
        url = json.loads(dist.read_text("direct_url.json") or "{}").get("url", "")
        if url.startswith("file://"):
            editable[Path(unquote(urlparse(url).path)).resolve()] = dist.metadata["Name"]
    seen = set()
    return all(p in editable and requirements_met(editable[p], frozenset({"test"}), seen) for p in projects)

try:
    from packaging.requirements import Requirement
except ImportError:
    from pip._vendor.packaging.requirements import Requirement
try:
    state = "current" if current() else "stale"
except Exception:  # a venv this cannot read is one to install into
    state = "stale"
print(want, state)
PY
}

# Installs torch (see the top of this file) and says which build it got from where.
install_torch() {
    local req="${ZOO_TORCH:-torch==2.13.0}" report="$venv/zoo-torch-install.json"
    local log="$venv/zoo-torch-cpu-index.log" asked report_opt=()
    rm -f "$report"
    # --report (pip >= 22.2) records the file each package came from
    "$py" -m pip install --help 2>/dev/null | grep -q -- '--report' && report_opt=(--report "$report")
    if [ -n "$cpu_index" ] && "${pip[@]}" --index-url "$cpu_index" --timeout 15 --retries 0 \
            ${report_opt[@]+"${report_opt[@]}"} "$req" 2>"$log"; then
        asked="PyTorch's CPU index, $cpu_index"
    else
        [ -n "$cpu_index" ] && echo "setup: PyTorch's CPU index ($cpu_index) gave no $req" \
            "($(grep -m1 'ERROR' "$log" || tail -n1 "$log")); trying pip's default index"
        "${pip[@]}" ${report_opt[@]+"${report_opt[@]}"} "$req"
        asked="pip's default index"
    fi
    # -W: torch warns at import when numpy is not installed yet, as here
    "$py" -W ignore::UserWarning - "$report" "$asked" <<'PY'
import json, sys
from urllib.parse import unquote
import torch

url = ""
try:
    for item in json.load(open(sys.argv[1]))["install"]:
        if item["metadata"]["name"].lower() == "torch":
            url = unquote(item["download_info"]["url"])
except (OSError, ValueError, KeyError):
    pass
build = "CPU build" if torch.version.cuda is None else f"CUDA {torch.version.cuda} build"
print(f"setup: torch {torch.__version__} ({build}) from {url or sys.argv[2]}"
      + (f" (asked for from {sys.argv[2]})" if url else ""))
if torch.version.cuda is not None:
    print("setup: zoo runs on the CPU; for the CPU build, remove the venv and rerun this where "
          "PyTorch's CPU index can be reached, or set ZOO_TORCH_INDEX to a mirror of it")
PY
}

# asap3 from zoo-plugin-ase's [fast] extra, where it can be built; never fails the setup.
install_fast_emt() {
    local ase_plugin="$here/plugins/zoo-plugin-ase" log="$venv/zoo-asap3-build.log" reqs
    [ -f "$ase_plugin/pyproject.toml" ] || return 0
    if ! command -v "${CC:-cc}" >/dev/null || ! command -v "${CXX:-c++}" >/dev/null \
        || ! "$py" -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))'; then
        echo "setup: asap3 (zoo-plugin-ase[fast]) skipped: it builds from source and no C/C++ compiler" \
            "or Python headers were found; ASE's own EMT is used"
        return 0
    fi
    reqs=$("$py" -c 'from importlib.metadata import requires
print(" ".join(r.split(";")[0].strip() for r in requires("zoo-plugin-ase") or [] if "extra == \"fast\"" in r))')
    [ -n "$reqs" ] || return 0
    "$py" -c 'import asap3' 2>/dev/null || echo "setup: building $reqs for zoo-plugin-ase[fast] (about a minute the first time)"
    # shellcheck disable=SC2086  # $reqs is a list of requirement words
    if "${pip[@]}" $reqs >"$log" 2>&1; then
        echo "setup: asap3 $("$py" -c 'import importlib.metadata as m; print(m.version("asap3"))') installed (zoo-plugin-ase[fast])"
    else
        echo "setup: asap3 did not build (the last lines of $log say why); continuing without it:" \
            "ASE's own EMT is used"
    fi
}

read -r hash state < <(setup_state) || true
if [ "$state" = current ] && [ -z "${ZOO_SETUP_FORCE:-}" ]; then
    echo "zoo is already set up in $venv: nothing to install (ZOO_SETUP_FORCE=1 reinstalls)"
    exit 0
fi
rm -f "$stamp"
"$py" -c "import torch" 2>/dev/null || install_torch
targets=()
for project in "${projects[@]}"; do
    targets+=(-e "${project}[test]")
done
echo "setup: installing ${#projects[@]} projects (editable) and their test tools into $venv"
"${pip[@]}" "${targets[@]}"
install_fast_emt
[ -z "$hash" ] || echo "$hash" >"$stamp"
echo "zoo is installed in $venv (activate it with: source $venv/bin/activate)"
