//! What this replica's gateway sees: invocations in flight and the last
//! request, per function. The gateway holds an [`InFlight`] guard for each
//! invocation (also while it waits for a cold start); the scaler task
//! publishes [`Load::changes`] to the catalog about once a second.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use eventflow_core::{FunctionName, TenantId};

use crate::store::{now_ms, LoadRow};

#[derive(Debug, Default)]
struct Entry {
    in_flight: u32,
    last_request_at: i64,
    /// Changed since the last publication.
    dirty: bool,
}

type Key = (TenantId, FunctionName);

/// In-flight invocations and the last request per function, on this replica.
#[derive(Debug, Default)]
pub struct Load {
    entries: Mutex<HashMap<Key, Entry>>,
}

impl Load {
    /// Counts an invocation of `name` until the guard is dropped.
    pub fn start(self: &Arc<Self>, tenant: &TenantId, name: &FunctionName) -> InFlight {
        let key = (tenant.clone(), name.clone());
        {
            let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
            let e = entries.entry(key.clone()).or_default();
            e.in_flight += 1;
            e.last_request_at = now_ms();
            e.dirty = true;
        }
        InFlight {
            load: Arc::clone(self),
            key: Some(key),
        }
    }

    /// In flight on this replica now.
    pub fn in_flight(&self, tenant: &TenantId, name: &FunctionName) -> u32 {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(tenant.clone(), name.clone()))
            .map_or(0, |e| e.in_flight)
    }

    /// The rows to publish: every function whose load changed since the
    /// last call, and every function with requests in flight (a heartbeat,
    /// so the scaler knows they are still running). Idle, unchanged
    /// functions are dropped from memory.
    pub fn changes(&self) -> Vec<LoadRow> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let rows = entries
            .iter_mut()
            .filter(|(_, e)| e.dirty || e.in_flight > 0)
            .map(|((tenant, name), e)| {
                e.dirty = false;
                LoadRow {
                    tenant: tenant.clone(),
                    name: name.clone(),
                    in_flight: e.in_flight,
                    last_request_at: e.last_request_at,
                }
            })
            .collect();
        entries.retain(|_, e| e.in_flight > 0 || e.dirty);
        rows
    }

    fn finish(&self, key: &Key) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let e = entries.entry(key.clone()).or_default();
        e.in_flight = e.in_flight.saturating_sub(1);
        e.last_request_at = now_ms();
        e.dirty = true;
    }
}

/// One invocation in flight; counted until dropped.
#[derive(Debug)]
pub struct InFlight {
    load: Arc<Load>,
    key: Option<Key>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.load.finish(&key);
        }
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
