//! Which functions have a rollout move pending: their reconciles (a step, a finish, a roll-back) run as urgent work until they end, ahead of resync reads at the limiter.

use std::collections::HashSet;
use std::sync::Mutex;

use crate::types::FunctionKey;

/// The functions whose last reconcile left a rollout move to make (now or after a pause).
#[derive(Default)]
pub struct Rolling(Mutex<HashSet<FunctionKey>>);

impl Rolling {
    /// Records what `key`'s last reconcile left: a rollout move to make, or none.
    pub fn set(&self, key: &FunctionKey, rolling: bool) {
        let mut keys = self.0.lock().unwrap();
        if rolling {
            keys.insert(key.clone());
        } else {
            keys.remove(key);
        }
    }

    pub fn contains(&self, key: &FunctionKey) -> bool {
        self.0.lock().unwrap().contains(key)
    }
}
