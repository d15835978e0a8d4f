#!/usr/bin/env bash
# Create .venv (or $ZOO_VENV) with zoo-core, every plugin under plugins/ and the test tools.
#
# torch goes in first, pinned to the CPU wheel 2.13.0 where no torch is importable yet, so
# pip never resolves "torch>=2.2" to a multi-GB CUDA build. A venv that already has a
# torch keeps it (set ZOO_TORCH to choose another requirement, e.g. ZOO_TORCH=torch==2.5.1).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${ZOO_VENV:-$here/.venv}"
python="${PYTHON:-python3}"

[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)
if ! "$venv/bin/python" -c "import torch" 2>/dev/null; then
    "${pip[@]}" "${ZOO_TORCH:-torch==2.13.0}"
fi
targets=(-e "$here[test]")
for plugin in "$here"/plugins/*/; do
    [ -f "$plugin/pyproject.toml" ] && targets+=(-e "${plugin%/}[test]")
done
"${pip[@]}" "${targets[@]}"
echo "zoo is installed in $venv (activate it with: source $venv/bin/activate)"
