#!/usr/bin/env python3
"""Validate an SBOM with tools we did not write.

    validate_sbom.py cyclonedx FILE   # cyclonedx-python-lib, strict JSON schema of CycloneDX 1.6
    validate_sbom.py spdx FILE        # spdx-tools: parse, then validate_full_spdx_document (SPDX 2.3)

Exit codes: 0 valid; 1 invalid (every error is printed to stderr); 2 usage or unreadable file;
3 the Python modules are not installed (callers decide whether that is a skip or a failure).
"""

import sys

EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_MISSING_MODULES = 3


def validate_cyclonedx(path):
    try:
        from cyclonedx.exception import MissingOptionalDependencyException
        from cyclonedx.schema import SchemaVersion
        from cyclonedx.validation.json import JsonStrictValidator
    except ImportError as e:
        print(f"missing python module: {e} (pip install 'cyclonedx-python-lib[json-validation]')",
              file=sys.stderr)
        return EXIT_MISSING_MODULES
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text, all_errors=True)
    except MissingOptionalDependencyException as e:
        print(f"missing python module: {e} (pip install 'cyclonedx-python-lib[json-validation]')",
              file=sys.stderr)
        return EXIT_MISSING_MODULES
    errors = list(errors or [])
    for err in errors:
        print(f"cyclonedx: {err}", file=sys.stderr)
    if errors:
        return EXIT_INVALID
    print(f"cyclonedx 1.6: {path}: valid")
    return 0


def validate_spdx(path):
    try:
        from spdx_tools.spdx.parser.error import SPDXParsingError
        from spdx_tools.spdx.parser.parse_anything import parse_file
        from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document
    except ImportError as e:
        print(f"missing python module: {e} (pip install spdx-tools)", file=sys.stderr)
        return EXIT_MISSING_MODULES
    try:
        document = parse_file(path)
    except SPDXParsingError as e:
        for msg in e.get_messages():
            print(f"spdx parse: {msg}", file=sys.stderr)
        return EXIT_INVALID
    messages = validate_full_spdx_document(document, "SPDX-2.3")
    for m in messages:
        print(f"spdx: {m.validation_message} (context: {m.context})", file=sys.stderr)
    if messages:
        return EXIT_INVALID
    print(f"spdx 2.3: {path}: valid ({len(document.packages)} packages, "
          f"{len(document.relationships)} relationships)")
    return 0


def main(argv):
    if len(argv) != 3 or argv[1] not in ("cyclonedx", "spdx"):
        print(__doc__, file=sys.stderr)
        return EXIT_USAGE
    kind, path = argv[1], argv[2]
    try:
        if kind == "cyclonedx":
            return validate_cyclonedx(path)
        return validate_spdx(path)
    except OSError as e:
        print(f"cannot read {path}: {e}", file=sys.stderr)
        return EXIT_USAGE
    except ValueError as e:  # not JSON at all (json.JSONDecodeError, UnicodeDecodeError)
        print(f"{kind}: {path}: not a JSON document: {e}", file=sys.stderr)
        return EXIT_INVALID


if __name__ == "__main__":
    sys.exit(main(sys.argv))
