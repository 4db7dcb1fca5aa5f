//! Several Attestor nodes, one log: the sequencer lock and the log's record in PostgreSQL, the
//! C2SP tiles on a filesystem every node mounts (the same `data_dir`).
//!
//! Every batch, on whichever node it arrives, runs in one PostgreSQL transaction:
//!
//! 1. `SELECT size, root FROM stella_tlog_head WHERE origin = $1 FOR UPDATE`: the row lock makes
//!    this node the only writer until it commits (a node that dies loses its connection, and so
//!    its lock).
//! 2. Catch up with the checkpoint on disk (the other nodes' batches: O(new entries) reads), and
//!    clear what a node that died part-way through a batch left beyond it.
//! 3. Reconcile: a node that died after renaming its checkpoint into place but before `COMMIT`
//!    left entries on disk that the record lacks; they are recorded now (they are in the signed
//!    tree: history is never rewritten). Tiles *behind* the record are refused: the directory is
//!    not the one the other nodes use, or it lost data.
//! 4. Append (tiles, leaves, checkpoint, each fsynced: [`LogStore::append_batch`]).
//! 5. Record the new leaf hashes (`stella_tlog_leaves`, unique per origin: a duplicate can not
//!    enter the record) and the new head; `COMMIT`.
//!
//! The submitters are answered only after the `COMMIT`. If it fails, the batch is on disk under a
//! signed checkpoint anyway, step 3 records it at the next batch, and a resubmission answers 409
//! with its index.
//!
//! Node startup (creating the keys and the empty log on first run, recovering the directory: it
//! deletes what a dead writer left beyond the checkpoint) holds a PostgreSQL advisory lock
//! exclusively; every append holds it shared. So a node (re)starting never cleans up under a
//! batch in progress, and nodes starting together do not race.
//!
//! The connection is plain (no TLS): point it at a Unix socket (`host=/run/postgresql`) or a
//! loopback / tunnelled port.

use std::time::Duration;

use postgres::{Client, NoTls};

use crate::merkle::Hash;
use crate::store::{BatchOutcome, LogStore};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS stella_tlog_head (
    origin     text PRIMARY KEY,
    size       bigint NOT NULL CHECK (size >= 0),
    root       bytea NOT NULL,
    checkpoint text NOT NULL,
    updated    timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS stella_tlog_leaves (
    origin text NOT NULL,
    idx    bigint NOT NULL,
    leaf   bytea NOT NULL,
    PRIMARY KEY (origin, idx)
);
CREATE UNIQUE INDEX IF NOT EXISTS stella_tlog_leaves_leaf ON stella_tlog_leaves (origin, leaf);
";

/// Advisory lock key for node startup ("stella-attestor" folded into 63 bits).
const STARTUP_LOCK: i64 = 0x5374_656c_6c61_4174;

/// Rows per `INSERT` when recording leaves.
const RECORD_CHUNK: usize = 8192;

/// The PostgreSQL side of a multi-node log. Blocking: call it from a blocking thread.
pub struct PgSequencer {
    url: String,
    client: Option<Client>,
    connect_timeout: Duration,
}

impl std::fmt::Debug for PgSequencer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSequencer")
            .field("connected", &self.client.is_some())
            .finish_non_exhaustive()
    }
}

impl Drop for PgSequencer {
    fn drop(&mut self) {
        // `postgres::Client` closes its connection by blocking on a runtime of its own, which
        // panics on an async worker thread (where the sequencer task ends): close it on a thread
        // of its own.
        if let Some(c) = self.client.take() {
            let _ = std::thread::Builder::new()
                .name("pg-close".into())
                .spawn(move || drop(c));
        }
    }
}

fn pg_err(what: &str) -> impl Fn(postgres::Error) -> String + '_ {
    move |e| {
        // The server's message (e.g. a unique violation) says more than the top-level text.
        match e.as_db_error() {
            Some(db) => format!(
                "PostgreSQL, {what}: {} ({})",
                db.message(),
                db.code().code()
            ),
            None => format!("PostgreSQL, {what}: {e}"),
        }
    }
}

fn as_i64(n: u64, what: &str) -> Result<i64, String> {
    i64::try_from(n).map_err(|_| format!("{what} {n} does not fit PostgreSQL's bigint"))
}

impl PgSequencer {
    /// A sequencer on the database at `url` (a libpq key/value string or a `postgresql://` URL).
    /// Nothing is opened until first use.
    pub fn new(url: impl Into<String>) -> PgSequencer {
        PgSequencer {
            url: url.into(),
            client: None,
            connect_timeout: Duration::from_secs(10),
        }
    }

    fn client(&mut self) -> Result<&mut Client, String> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            let mut cfg: postgres::Config = self.url.parse().map_err(|e| {
                format!("attestor.sequencer.postgres is not a valid connection string: {e}")
            })?;
            if cfg.get_connect_timeout().is_none() {
                cfg.connect_timeout(self.connect_timeout);
            }
            let mut c = cfg.connect(NoTls).map_err(pg_err("connect"))?;
            let mut tx = c.transaction().map_err(pg_err("begin"))?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&STARTUP_LOCK])
                .map_err(pg_err("lock the schema"))?;
            tx.batch_execute(SCHEMA)
                .map_err(pg_err("create the tables"))?;
            tx.commit().map_err(pg_err("create the tables"))?;
            self.client = Some(c);
        }
        self.client
            .as_mut()
            .ok_or_else(|| "PostgreSQL: not connected".to_owned())
    }

    /// Runs `f` (node startup: keys, opening the log directory) under the startup lock.
    pub fn startup<T>(&mut self, f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
        let r = (|| {
            let c = self.client()?;
            let mut tx = c.transaction().map_err(pg_err("begin"))?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&STARTUP_LOCK])
                .map_err(pg_err("take the startup lock"))?;
            let out = f()?;
            tx.commit().map_err(pg_err("commit"))?;
            Ok(out)
        })();
        self.forget_on_error(r)
    }

    /// Appends a batch as the only writer of `store`'s log (module docs: steps 1 to 5).
    pub fn append(
        &mut self,
        store: &mut LogStore,
        entries: &[Vec<u8>],
    ) -> Result<BatchOutcome, String> {
        let r = self.append_locked(store, entries);
        self.forget_on_error(r)
    }

    /// The recorded head (size, root), if this log has one.
    pub fn head(&mut self, origin: &str) -> Result<Option<(u64, Hash)>, String> {
        let r = (|| {
            let c = self.client()?;
            let row = c
                .query_opt(
                    "SELECT size, root FROM stella_tlog_head WHERE origin = $1",
                    &[&origin],
                )
                .map_err(pg_err("read the head"))?;
            row.map(|r| head_of(&r)).transpose()
        })();
        self.forget_on_error(r)
    }

    fn forget_on_error<T>(&mut self, r: Result<T, String>) -> Result<T, String> {
        if r.is_err() {
            // Start from a fresh connection next time (a broken one, or a transaction left in an
            // unknown state).
            self.client = None;
        }
        r
    }

    fn append_locked(
        &mut self,
        store: &mut LogStore,
        entries: &[Vec<u8>],
    ) -> Result<BatchOutcome, String> {
        let origin = store.origin().to_owned();
        let c = self.client()?;
        let mut tx = c.transaction().map_err(pg_err("begin"))?;
        // Shared: appends exclude a node's startup (which recovers the directory), not each other
        // (the head's row lock does that).
        tx.execute("SELECT pg_advisory_xact_lock_shared($1)", &[&STARTUP_LOCK])
            .map_err(pg_err("take the startup lock (shared)"))?;
        tx.execute(
            "INSERT INTO stella_tlog_head (origin, size, root, checkpoint) VALUES ($1, 0, $2, '') \
             ON CONFLICT (origin) DO NOTHING",
            &[&origin, &crate::merkle::EMPTY_ROOT.as_slice()],
        )
        .map_err(pg_err("create the head"))?;
        let row = tx
            .query_one(
                "SELECT size, root FROM stella_tlog_head WHERE origin = $1 FOR UPDATE",
                &[&origin],
            )
            .map_err(pg_err("lock the head"))?;
        let (recorded, recorded_root) = head_of(&row)?;
        // 2. Other nodes' batches, and a dead writer's leftovers.
        store.prepare_exclusive().map_err(|e| e.to_string())?;
        // 3. Reconcile the record with the tiles.
        let disk = store.size();
        if disk < recorded {
            return Err(format!(
                "the log directory holds {disk} entries but PostgreSQL records {recorded} for \
                 {origin}: this node does not see the directory the other nodes write, or it \
                 lost data; refusing to append"
            ));
        }
        let disk_root = store.root_at(recorded).map_err(|e| e.to_string())?;
        if disk_root != recorded_root {
            return Err(format!(
                "the log directory's tree at size {recorded} has another root than PostgreSQL \
                 records for {origin}; refusing to append"
            ));
        }
        if disk > recorded {
            tracing::warn!(
                origin,
                from = recorded,
                to = disk,
                "recording entries a node appended before it died (checkpoint on disk, no COMMIT)"
            );
            record(&mut tx, store, &origin, recorded, disk)?;
        }
        // 4. Append.
        let out = store.append_batch(entries).map_err(|e| e.to_string())?;
        // 5. Record and commit.
        record(&mut tx, store, &origin, disk, out.size)?;
        tx.execute(
            "UPDATE stella_tlog_head SET size = $2, root = $3, checkpoint = $4, updated = now() \
             WHERE origin = $1",
            &[
                &origin,
                &as_i64(out.size, "log size")?,
                &out.root.as_slice(),
                &out.checkpoint,
            ],
        )
        .map_err(pg_err("update the head"))?;
        tx.commit().map_err(pg_err("commit the batch"))?;
        Ok(out)
    }
}

fn head_of(row: &postgres::Row) -> Result<(u64, Hash), String> {
    let size: i64 = row.try_get(0).map_err(pg_err("read the head size"))?;
    let root: Vec<u8> = row.try_get(1).map_err(pg_err("read the head root"))?;
    let size = u64::try_from(size).map_err(|_| format!("PostgreSQL records size {size}"))?;
    let root: Hash = root
        .as_slice()
        .try_into()
        .map_err(|_| format!("PostgreSQL records a {}-byte root", root.len()))?;
    Ok((size, root))
}

/// Records the leaf hashes of entries `from..to`.
fn record(
    tx: &mut postgres::Transaction<'_>,
    store: &LogStore,
    origin: &str,
    from: u64,
    to: u64,
) -> Result<(), String> {
    let mut start = from;
    while start < to {
        let end = to.min(start + RECORD_CHUNK as u64);
        let leaves = store.leaf_hashes(start, end).map_err(|e| e.to_string())?;
        let idx: Vec<i64> = (start..end)
            .map(|i| as_i64(i, "index"))
            .collect::<Result<_, _>>()?;
        let leaves: Vec<&[u8]> = leaves.iter().map(|h| h.as_slice()).collect();
        tx.execute(
            "INSERT INTO stella_tlog_leaves (origin, idx, leaf) \
             SELECT $1, i, l FROM unnest($2::bigint[], $3::bytea[]) AS t(i, l)",
            &[&origin, &idx, &leaves],
        )
        .map_err(pg_err("record the batch's leaves"))?;
        start = end;
    }
    Ok(())
}
