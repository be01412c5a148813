//! Handles: opaque pointers that are really numbers into a table of live objects, so that a
//! freed, foreign or mistyped handle is recognized and refused instead of dereferenced.
//!
//! Every handle gets a number never given before (one counter for all kinds), so a handle used
//! after its free (or a job handle passed as a run) finds nothing. Each object sits behind its
//! own mutex that calls only ever *try* to take: a second thread using the same handle at the
//! same moment gets [`Status::Busy`] rather than waiting or racing.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};

use crate::boundary::Failure;
use crate::status::Status;

/// The number of the next handle (0 is NULL, never given).
static NEXT: AtomicUsize = AtomicUsize::new(1);

/// One object of a registry, shared by the table and the calls using it.
pub type Slot<T> = Arc<Mutex<T>>;

/// The live objects of one kind.
#[derive(Debug)]
pub struct Registry<T> {
    kind: &'static str,
    live: Mutex<BTreeMap<usize, Slot<T>>>,
}

impl<T> Registry<T> {
    /// An empty registry of objects called `kind` in messages ("job", "run").
    pub const fn new(kind: &'static str) -> Registry<T> {
        Registry {
            kind,
            live: Mutex::new(BTreeMap::new()),
        }
    }

    fn table(&self) -> MutexGuard<'_, BTreeMap<usize, Slot<T>>> {
        // The table is consistent even if a holder panicked: every operation is one call.
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds `value`; returns its handle number and its slot.
    pub fn insert(&self, value: T) -> (usize, Slot<T>) {
        let number = NEXT.fetch_add(1, Ordering::Relaxed);
        let slot = Arc::new(Mutex::new(value));
        self.table().insert(number, slot.clone());
        (number, slot)
    }

    fn not_live(&self) -> Failure {
        Failure::new(
            Status::InvalidHandle,
            format!(
                "the {} handle is not live: it was freed, or is not a {} handle",
                self.kind, self.kind
            ),
        )
    }

    fn null(&self, name: &str) -> Failure {
        Failure::new(
            Status::NullArgument,
            format!(
                "{name} is null: pass a {} handle from tenantsync_{}_*",
                self.kind, self.kind
            ),
        )
    }

    /// The slot of handle `number` (the argument `name`).
    pub fn slot(&self, number: usize, name: &str) -> Result<Slot<T>, Failure> {
        if number == 0 {
            return Err(self.null(name));
        }
        self.table()
            .get(&number)
            .cloned()
            .ok_or_else(|| self.not_live())
    }

    /// Runs `f` on the object of handle `number`, or fails with [`Status::Busy`] when another
    /// call holds it.
    pub fn with<R>(
        &self,
        number: usize,
        name: &str,
        f: impl FnOnce(&mut T) -> Result<R, Failure>,
    ) -> Result<R, Failure> {
        let slot = self.slot(number, name)?;
        let mut guard = try_lock(&slot, self.kind)?;
        f(&mut guard)
    }

    /// Removes handle `number` (NULL is a no-op) once `ready` agrees, and returns its object
    /// if no other call holds it; a handle in use stays live and the call fails with
    /// [`Status::Busy`].
    pub fn remove(
        &self,
        number: usize,
        ready: impl FnOnce(&mut T) -> Result<(), Failure>,
    ) -> Result<Option<Slot<T>>, Failure> {
        if number == 0 {
            return Ok(None);
        }
        let mut table = self.table();
        let slot = table.get(&number).cloned().ok_or_else(|| self.not_live())?;
        {
            let mut guard = try_lock(&slot, self.kind)?;
            ready(&mut guard)?;
        }
        table.remove(&number);
        Ok(Some(slot))
    }

    /// How many handles of this kind are live.
    pub fn len(&self) -> usize {
        self.table().len()
    }

    /// True when no handle of this kind is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Takes `slot` without waiting: [`Status::Busy`] when another call holds it. A slot whose
/// holder panicked is taken anyway (the panic was reported to that caller).
pub fn try_lock<'a, T>(slot: &'a Mutex<T>, kind: &str) -> Result<MutexGuard<'a, T>, Failure> {
    match slot.try_lock() {
        Ok(guard) => Ok(guard),
        Err(TryLockError::Poisoned(e)) => Ok(e.into_inner()),
        Err(TryLockError::WouldBlock) => Err(Failure::new(
            Status::Busy,
            format!(
                "the {kind} handle is in use by a call on another thread: use a handle from one thread at a time"
            ),
        )),
    }
}

/// The pointer a handle number travels as: never dereferenced, only compared.
pub fn to_ptr<H>(number: usize) -> *mut H {
    std::ptr::without_provenance_mut(number)
}

/// The handle number of a pointer from [`to_ptr`] (0 for NULL).
pub fn from_ptr<H>(ptr: *const H) -> usize {
    ptr.addr()
}
