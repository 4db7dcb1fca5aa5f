#!/usr/bin/env python3
"""Validate BuildKit SBOM generator output with tools we did not write.

    validate_statement.py FILE...

For each file, as BuildKit's unbundler (exporter/attestation/unbundle.go) and the in-toto
attestation library see it:
  - exactly one JSON object (BuildKit refuses trailing data);
  - `predicateType` exactly https://spdx.dev/Document and `subject` empty (BuildKit fills it);
  - with a subject filled in as BuildKit does (name + sha256 digest), the statement parses strictly
    into the in-toto v1 Statement protobuf (unknown fields are errors) and passes
    in_toto_attestation.v1.statement.Statement.validate();
  - the predicate, written to FILE.predicate.json, is a valid SPDX 2.3 document for `pyspdxtools -i`
    (spdx-tools' own command line, run from the same venv).

Exit codes: 0 all valid; 1 something invalid (printed to stderr); 2 usage; 3 modules missing.
"""

import json
import os
import subprocess
import sys

PREDICATE = "https://spdx.dev/Document"


def fail(path, msg):
    print(f"{path}: {msg}", file=sys.stderr)
    return 1


def check(path):
    from google.protobuf import json_format
    from in_toto_attestation.v1 import statement, statement_pb2

    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8")
        decoder = json.JSONDecoder()
        obj, end = decoder.raw_decode(text.lstrip())
        if text.lstrip()[end:].strip():
            return fail(path, "trailing data after the statement (BuildKit: not a single JSON object)")
    except ValueError as e:
        return fail(path, f"not JSON: {e}")
    if not isinstance(obj, dict):
        return fail(path, "not a JSON object")
    if obj.get("predicateType") != PREDICATE:
        return fail(path, f"predicateType is {obj.get('predicateType')!r}, BuildKit needs {PREDICATE!r}")
    if obj.get("subject") != []:
        return fail(path, f"subject must be empty for BuildKit to fill, got {obj.get('subject')!r}")
    filled = dict(obj)
    filled["subject"] = [{"name": "pkg:docker/example/app@latest",
                          "digest": {"sha256": "0" * 64}}]
    try:
        pb = json_format.Parse(json.dumps(filled), statement_pb2.Statement())
    except json_format.ParseError as e:
        return fail(path, f"in-toto v1 Statement: {e}")
    try:
        statement.Statement.copy_from_pb(pb).validate()
    except ValueError as e:
        return fail(path, f"in-toto v1 Statement: {e}")
    predicate = path + ".predicate.json"
    with open(predicate, "w", encoding="utf-8") as f:
        json.dump(obj["predicate"], f)
    tool = os.path.join(os.path.dirname(sys.executable), "pyspdxtools")
    run = subprocess.run([tool, "-i", predicate], capture_output=True, text=True)
    if run.returncode != 0:
        return fail(path, f"pyspdxtools -i: exit {run.returncode}\n{run.stdout}{run.stderr}")
    print(f"{path}: in-toto v1 statement valid; SPDX 2.3 predicate valid "
          f"({len(obj['predicate'].get('packages', []))} packages, "
          f"{len(obj['predicate'].get('files', []))} files)")
    return 0


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        import google.protobuf  # noqa: F401
        import in_toto_attestation  # noqa: F401
        import spdx_tools  # noqa: F401
    except ImportError as e:
        print(f"missing python module: {e} (pip install in-toto-attestation spdx-tools)",
              file=sys.stderr)
        return 3
    return max(check(p) for p in argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
