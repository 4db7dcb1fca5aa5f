"""python-tuf's ngclient against a repository made by stella-tuf.

usage: ngclient_refresh.py REPO_DIR CACHE_DIR TARGET_NAME EXPECTED_FILE

CACHE_DIR/metadata/root.json must hold the trusted root. REPO_DIR is served over HTTP on
127.0.0.1 (metadata at /, targets at /targets/). Refreshes, downloads TARGET_NAME, checks it
equals EXPECTED_FILE, prints {"root": N, "timestamp": N, "snapshot": N, "targets": N, "length": N}.
"""

import functools
import http.server
import json
import os
import sys
import threading

from tuf.api.metadata import Metadata
from tuf.ngclient import Updater


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def main():
    repo_dir, cache_dir, target_name, expected_file = sys.argv[1:5]
    handler = functools.partial(Quiet, directory=repo_dir)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    metadata_dir = os.path.join(cache_dir, "metadata")
    target_dir = os.path.join(cache_dir, "targets")
    os.makedirs(target_dir, exist_ok=True)
    updater = Updater(
        metadata_dir=metadata_dir,
        metadata_base_url=base,
        target_dir=target_dir,
        target_base_url=base + "targets/",
        bootstrap=None,
    )
    updater.refresh()
    info = updater.get_targetinfo(target_name)
    if info is None:
        sys.exit(f"target {target_name} not found")
    path = updater.download_target(info, os.path.join(target_dir, "downloaded"))
    with open(path, "rb") as f, open(expected_file, "rb") as g:
        if f.read() != g.read():
            sys.exit("downloaded target differs from the expected bytes")
    versions = {}
    for role in ["root", "timestamp", "snapshot", "targets"]:
        md = Metadata.from_file(os.path.join(metadata_dir, f"{role}.json"))
        versions[role] = md.signed.version
    versions["length"] = info.length
    versions["custom"] = info.custom
    server.shutdown()
    print(json.dumps(versions))


if __name__ == "__main__":
    main()
