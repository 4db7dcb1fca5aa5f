"""A TUF repository made by python-tuf's Metadata API, for stella-tuf's client to consume.

usage: make_repo.py OUT_DIR TARGET_FILE

Root (ed25519), targets (ed25519), snapshot (ed25519), timestamp (ECDSA P-256); consistent
snapshots; TARGET_FILE published as targets/<sha256>.<basename>, and as team/<basename> by the
delegated role "team" (paths team/*, its own ed25519 key). Root version 2 rotates the
timestamp key, so the client walks 1.root.json → 2.root.json.
"""

import os
import sys
from datetime import datetime, timedelta, timezone

from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import (
    DelegatedRole,
    Delegations,
    Metadata,
    MetaFile,
    Role,
    Root,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer


def main():
    out, target_file = sys.argv[1:3]
    os.makedirs(os.path.join(out, "targets"), exist_ok=True)
    expires = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=7)
    signers = {
        "root": CryptoSigner.generate_ed25519(),
        "targets": CryptoSigner.generate_ed25519(),
        "snapshot": CryptoSigner.generate_ed25519(),
        "timestamp": CryptoSigner.generate_ecdsa(),
    }
    ser = JSONSerializer(compact=False)

    root = Root(expires=expires, consistent_snapshot=True)
    for role, signer in signers.items():
        root.add_key(signer.public_key, role)
    root_md = Metadata(root)
    root_md.sign(signers["root"])
    root_md.to_file(os.path.join(out, "1.root.json"), ser)

    # Version 2: a new timestamp key (ECDSA again), signed by the (unchanged) root key.
    new_ts = CryptoSigner.generate_ecdsa()
    root.revoke_key(signers["timestamp"].public_key.keyid, "timestamp")
    root.add_key(new_ts.public_key, "timestamp")
    signers["timestamp"] = new_ts
    root.version = 2
    root_md = Metadata(root)
    root_md.sign(signers["root"])
    root_md.to_file(os.path.join(out, "2.root.json"), ser)
    root_md.to_file(os.path.join(out, "root.json"), ser)

    with open(target_file, "rb") as f:
        data = f.read()
    name = os.path.basename(target_file)
    tf = TargetFile.from_data(name, data, ["sha256"])
    tf.unrecognized_fields["custom"] = {"stella": {"usage": "test", "status": "active"}}
    with open(os.path.join(out, "targets", f"{tf.hashes['sha256']}.{name}"), "wb") as f:
        f.write(data)

    team_signer = CryptoSigner.generate_ed25519()
    team = Targets(expires=expires)
    team_tf = TargetFile.from_data(f"team/{name}", data, ["sha256"])
    team.targets[team_tf.path] = team_tf
    os.makedirs(os.path.join(out, "targets", "team"), exist_ok=True)
    with open(os.path.join(out, "targets", "team", f"{team_tf.hashes['sha256']}.{name}"), "wb") as f:
        f.write(data)
    team_md = Metadata(team)
    team_md.sign(team_signer)
    team_md.to_file(os.path.join(out, "1.team.json"), ser)

    targets = Targets(expires=expires)
    targets.targets[name] = tf
    targets.delegations = Delegations(
        keys={team_signer.public_key.keyid: team_signer.public_key},
        roles={
            "team": DelegatedRole(
                name="team",
                keyids=[team_signer.public_key.keyid],
                threshold=1,
                terminating=True,
                paths=["team/*"],
            )
        },
    )
    targets_md = Metadata(targets)
    targets_md.sign(signers["targets"])
    targets_md.to_file(os.path.join(out, "1.targets.json"), ser)

    snapshot = Snapshot(expires=expires)
    snapshot.meta["targets.json"] = MetaFile(version=targets.version)
    snapshot.meta["team.json"] = MetaFile(version=team.version)
    snapshot_md = Metadata(snapshot)
    snapshot_md.sign(signers["snapshot"])
    snapshot_md.to_file(os.path.join(out, "1.snapshot.json"), ser)

    timestamp = Timestamp(expires=expires)
    timestamp.snapshot_meta = MetaFile(version=snapshot.version)
    timestamp_md = Metadata(timestamp)
    timestamp_md.sign(signers["timestamp"])
    timestamp_md.to_file(os.path.join(out, "timestamp.json"), ser)


if __name__ == "__main__":
    main()
