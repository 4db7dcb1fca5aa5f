#!/usr/bin/env python3
"""Discover and download an SBOM referrer with the Python `oras` package (a client we did not write).

    oras_pull.py --registry 127.0.0.1:5000 --repository test/app --subject sha256:... \
        --artifact-type application/vnd.cyclonedx+json --output sbom.json

Discovery uses the registry's referrers API when it answers, else the tag-schema fallback: the image
index tagged `sha256-<hex>` of the subject. The referrer manifest's `subject` must be the subject; the
SBOM layer is downloaded with oras and its digest checked. Prints a JSON summary on stdout; exits 1 when
no referrer of that type is found.
"""

import argparse
import hashlib
import json
import sys

import oras.client

INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--registry", required=True)
    ap.add_argument("--repository", required=True)
    ap.add_argument("--subject", required=True)
    ap.add_argument("--artifact-type", required=True)
    ap.add_argument("--output", required=True)
    args = ap.parse_args()

    client = oras.client.OrasClient(hostname=args.registry, insecure=True)
    repo = f"{args.registry}/{args.repository}"

    # The referrers API (distribution 1.1); CNCF distribution 2.8 answers 404 and we fall back.
    url = f"http://{args.registry}/v2/{args.repository}/referrers/{args.subject}"
    resp = client.do_request(url, "GET", headers={"Accept": INDEX})
    if resp.status_code == 200:
        index = resp.json()
        discovery = "referrers-api"
    else:
        fallback_tag = args.subject.replace(":", "-")
        index = client.get_manifest(f"{repo}:{fallback_tag}", allowed_media_type=[INDEX])
        discovery = "tag-fallback"

    candidates = [m for m in index.get("manifests", []) if m.get("artifactType") == args.artifact_type]
    if not candidates:
        print(json.dumps({"discovery": discovery, "found": 0, "index": index}))
        return 1
    desc = candidates[0]
    manifest = client.get_manifest(f"{repo}@{desc['digest']}", allowed_media_type=[MANIFEST])
    if manifest.get("subject", {}).get("digest") != args.subject:
        print(f"referrer {desc['digest']} has subject {manifest.get('subject')}", file=sys.stderr)
        return 2
    if manifest.get("artifactType") != args.artifact_type:
        print(f"referrer {desc['digest']} has artifactType {manifest.get('artifactType')}", file=sys.stderr)
        return 2
    layer = manifest["layers"][0]
    client.download_blob(repo, layer["digest"], args.output)
    with open(args.output, "rb") as f:
        got = "sha256:" + hashlib.sha256(f.read()).hexdigest()
    if got != layer["digest"]:
        print(f"layer digest mismatch: {got} != {layer['digest']}", file=sys.stderr)
        return 2
    print(
        json.dumps(
            {
                "discovery": discovery,
                "found": len(candidates),
                "referrer": desc["digest"],
                "layer": layer["digest"],
                "mediaType": layer["mediaType"],
                "annotations": manifest.get("annotations", {}),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
