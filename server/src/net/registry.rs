//! Which devices hold open connections: lets the server cap connections per
//! device and close a revoked device's connections the moment IT revokes it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use uuid::Uuid;

#[derive(Default)]
pub struct Registry {
    next_id: AtomicU64,
    by_device: Mutex<HashMap<Uuid, Vec<(u64, quinn::Connection)>>>,
}

/// Holds a connection's place in the registry; dropping it frees the place.
pub struct Registration {
    registry: Arc<Registry>,
    device: Uuid,
    id: u64,
}

impl Registry {
    /// Registers `conn` for `device`, unless the device already holds
    /// `max_per_device` connections (the count is returned then).
    pub fn register(
        self: &Arc<Self>,
        device: Uuid,
        conn: quinn::Connection,
        max_per_device: usize,
    ) -> Result<Registration, usize> {
        let mut by_device = self.by_device.lock().expect("registry lock");
        let open = by_device.entry(device).or_default();
        if open.len() >= max_per_device {
            return Err(open.len());
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        open.push((id, conn));
        Ok(Registration {
            registry: self.clone(),
            device,
            id,
        })
    }

    /// Devices with open connections, and those connections.
    pub fn snapshot(&self) -> Vec<(Uuid, Vec<quinn::Connection>)> {
        self.by_device
            .lock()
            .expect("registry lock")
            .iter()
            .map(|(device, conns)| (*device, conns.iter().map(|(_, c)| c.clone()).collect()))
            .collect()
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut by_device = self.registry.by_device.lock().expect("registry lock");
        if let Some(open) = by_device.get_mut(&self.device) {
            open.retain(|(id, _)| *id != self.id);
            if open.is_empty() {
                by_device.remove(&self.device);
            }
        }
    }
}
