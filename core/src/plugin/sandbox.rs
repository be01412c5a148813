//! What a plugin instance lives in: WASI with no capabilities, a frozen clock, fixed
//! "randomness", captured and bounded stdout/stderr, and a memory limiter that remembers when
//! it refused.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView};

use super::limits::Limits;

/// The data of one plugin instance's store.
pub(crate) struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub limiter: Limiter,
    /// What the plugin wrote to stdout and stderr since the last [`Capture::take`].
    pub output: Capture,
}

impl HostState {
    /// A sandbox with nothing in it.
    pub(crate) fn new(limits: &Limits) -> HostState {
        let output = Capture::new(limits.max_log_bytes as usize);
        // No preopened directories, no environment, no arguments, no network (sockets are
        // linked but every address is refused), no stdin. The clocks are frozen at the epoch
        // and "random" bytes are fixed, so a plugin stays deterministic.
        let wasi = WasiCtx::builder()
            .stdout(output.clone())
            .stderr(output.clone())
            .wall_clock(FrozenClock)
            .monotonic_clock(FrozenClock)
            .secure_random(wasmtime_wasi::Deterministic::new(vec![0x5a]))
            .insecure_random(wasmtime_wasi::Deterministic::new(vec![0xa5]))
            .insecure_random_seed(0)
            .allow_ip_name_lookup(false)
            .allow_tcp(false)
            .allow_udp(false)
            .build();
        HostState {
            wasi,
            table: ResourceTable::new(),
            limiter: Limiter::new(limits),
            output,
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// A clock that always reads the Unix epoch: plugins cannot read the time.
struct FrozenClock;

impl HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// Memory, table and instance caps that record whether memory was refused, so a failed call
/// is reported as out of memory rather than as the trap the plugin turns it into.
pub(crate) struct Limiter {
    max_memory: usize,
    max_table: usize,
    max_instances: usize,
    /// Set when a memory growth was refused.
    pub memory_refused: bool,
}

impl Limiter {
    fn new(limits: &Limits) -> Limiter {
        let cap = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        Limiter {
            max_memory: cap(limits.max_memory_bytes),
            max_table: cap(limits.max_table_elements),
            max_instances: cap(limits.max_instances),
            memory_refused: false,
        }
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_memory {
            self.memory_refused = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= self.max_table)
    }

    fn instances(&self) -> usize {
        self.max_instances
    }

    fn tables(&self) -> usize {
        self.max_instances
    }

    fn memories(&self) -> usize {
        self.max_instances
    }
}

/// stdout and stderr of one instance, kept up to a number of bytes; the rest is dropped and
/// counted.
#[derive(Clone)]
pub(crate) struct Capture {
    inner: Arc<Mutex<CaptureInner>>,
    /// Set by every write, cleared by [`Capture::take`]: a call that wrote nothing (nearly
    /// all of them) is checked without taking the lock.
    written: Arc<AtomicBool>,
}

struct CaptureInner {
    kept: Vec<u8>,
    dropped: u64,
    capacity: usize,
}

impl Capture {
    fn new(capacity: usize) -> Capture {
        Capture {
            inner: Arc::new(Mutex::new(CaptureInner {
                kept: Vec::new(),
                dropped: 0,
                capacity,
            })),
            written: Arc::new(AtomicBool::new(false)),
        }
    }

    /// What was written since the last call, as text (invalid UTF-8 replaced), with a note of
    /// how much was dropped.
    pub(crate) fn take(&self) -> String {
        if !self.written.load(Ordering::Relaxed) || !self.written.swap(false, Ordering::Acquire) {
            return String::new();
        }
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut text = String::from_utf8_lossy(&inner.kept).into_owned();
        if inner.dropped > 0 {
            text.push_str(&format!("\n[{} more bytes dropped]", inner.dropped));
        }
        inner.kept.clear();
        inner.dropped = 0;
        text
    }

    fn write(&self, bytes: &[u8]) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        self.written.store(true, Ordering::Release);
        let room = inner.capacity.saturating_sub(inner.kept.len());
        let n = room.min(bytes.len());
        inner.kept.extend_from_slice(&bytes[..n]);
        inner.dropped += (bytes.len() - n) as u64;
    }
}

impl IsTerminal for Capture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Capture {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(tokio::io::sink())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for Capture {
    async fn ready(&mut self) {}
}

impl OutputStream for Capture {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        Capture::write(self, &bytes);
        Ok(())
    }
    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }
    fn check_write(&mut self) -> StreamResult<usize> {
        // Always room: what does not fit is dropped, so a chatty plugin never blocks or fails.
        Ok(64 << 10)
    }
}
