//! What this replica's gateway sees: invocations in flight and the last
//! request, per function. The gateway holds an [`InFlight`] guard for each
//! invocation (also while it waits for a cold start); the scaler task
//! publishes [`Load::changes`] to the catalog about once a second.

use std::collections::HashMap;
use std::sync::{
    atomic::{AtomicBool, AtomicI64, AtomicU32, Ordering::Relaxed},
    Arc, Mutex, MutexGuard, PoisonError,
};

use eventflow_core::{FunctionName, TenantId};

use crate::store::{now_ms, LoadRow};

/// One function's load. Its fields change only under [`Load`]'s lock (so
/// [`Load::changes`] sees a consistent entry and never drops one with
/// calls in flight); atomics only so that a guard can hold it shared.
#[derive(Debug, Default)]
struct Entry {
    in_flight: AtomicU32,
    last_request_at: AtomicI64,
    /// Changed since the last publication.
    dirty: AtomicBool,
}

type Entries = HashMap<TenantId, HashMap<FunctionName, Arc<Entry>>>;

/// In-flight invocations and the last request per function, on this replica.
#[derive(Debug, Default)]
pub struct Load {
    /// By tenant, then function: looked up by `&str`, so an invocation
    /// allocates nothing once its function has an entry.
    entries: Mutex<Entries>,
}

impl Load {
    fn lock(&self) -> MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts an invocation of `name` until the guard is dropped.
    pub fn start(self: &Arc<Self>, tenant: &TenantId, name: &FunctionName) -> InFlight {
        let mut entries = self.lock();
        let functions = match entries.get_mut(tenant.as_str()) {
            Some(f) => f,
            None => entries.entry(tenant.clone()).or_default(),
        };
        let entry = match functions.get(name.as_str()) {
            Some(e) => Arc::clone(e),
            None => Arc::clone(functions.entry(name.clone()).or_default()),
        };
        entry.in_flight.fetch_add(1, Relaxed);
        entry.last_request_at.store(now_ms(), Relaxed);
        entry.dirty.store(true, Relaxed);
        drop(entries);
        InFlight {
            load: Arc::clone(self),
            entry,
        }
    }

    /// In flight on this replica now.
    pub fn in_flight(&self, tenant: &TenantId, name: &FunctionName) -> u32 {
        self.lock()
            .get(tenant.as_str())
            .and_then(|f| f.get(name.as_str()))
            .map_or(0, |e| e.in_flight.load(Relaxed))
    }

    /// The rows to publish: every function whose load changed since the
    /// last call, and every function with requests in flight (a heartbeat,
    /// so the scaler knows they are still running). Idle, unchanged
    /// functions are dropped from memory.
    pub fn changes(&self) -> Vec<LoadRow> {
        let mut entries = self.lock();
        let mut rows = Vec::new();
        for (tenant, functions) in entries.iter() {
            for (name, e) in functions {
                let in_flight = e.in_flight.load(Relaxed);
                if e.dirty.swap(false, Relaxed) || in_flight > 0 {
                    rows.push(LoadRow {
                        tenant: tenant.clone(),
                        name: name.clone(),
                        in_flight,
                        last_request_at: e.last_request_at.load(Relaxed),
                    });
                }
            }
        }
        // What was just published and is idle goes (a later call makes it
        // again).
        entries.retain(|_, functions| {
            functions.retain(|_, e| e.in_flight.load(Relaxed) > 0 || e.dirty.load(Relaxed));
            !functions.is_empty()
        });
        rows
    }

    fn finish(&self, entry: &Entry) {
        let _entries = self.lock();
        entry.in_flight.fetch_sub(1, Relaxed);
        entry.last_request_at.store(now_ms(), Relaxed);
        entry.dirty.store(true, Relaxed);
    }
}

/// One invocation in flight; counted until dropped.
#[derive(Debug)]
pub struct InFlight {
    load: Arc<Load>,
    entry: Arc<Entry>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.load.finish(&self.entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_flight_is_counted_until_the_guard_drops_and_published_once_when_idle() {
        let load = Arc::new(Load::default());
        let (t, f) = (
            TenantId::parse("acme").unwrap(),
            FunctionName::parse("f").unwrap(),
        );
        let a = load.start(&t, &f);
        let b = load.start(&t, &f);
        assert_eq!(load.in_flight(&t, &f), 2);
        let rows = load.changes();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].in_flight, 2);
        assert!(rows[0].last_request_at > 0);
        // In flight: published again as a heartbeat though unchanged.
        assert_eq!(load.changes().len(), 1);
        drop(a);
        drop(b);
        assert_eq!(load.in_flight(&t, &f), 0);
        let rows = load.changes();
        assert_eq!(rows[0].in_flight, 0);
        // Idle and unchanged: nothing more to publish, and forgotten.
        assert!(load.changes().is_empty());
    }
}
