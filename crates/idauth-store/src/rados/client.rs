//! Safe, asynchronous wrappers of the librados calls in `ffi.rs`: a connected
//! cluster, a pool (I/O context) in a namespace, and compound read and write
//! operations on one object, each awaited without blocking a thread.
//!
//! Each operation's buffers live in a heap context that librados's completion callback
//! owns: if the awaiting future is dropped (a deadline), librados may still write into
//! them until the operation completes, so they are freed by the callback, never by
//! the future.

use std::ffi::{CString, c_char, c_int, c_void};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::oneshot;

use super::ffi;
pub use super::ops::{ReadOp, ReadResult, WriteOp};

/// Why a RADOS call failed: the call and the error number librados returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{op}: {}", std::io::Error::from_raw_os_error(*errno))]
pub struct RadosError {
    /// The call or operation.
    pub op: &'static str,
    /// The positive error number (ENOENT, EEXIST, ETIMEDOUT, ENOSPC, ...).
    pub errno: i32,
}

/// ENOENT: no such object.
pub const ENOENT: i32 = 2;
/// EEXIST: an exclusive create found the object.
pub const EEXIST: i32 = 17;
/// ERANGE / EOVERFLOW: an asserted version is not the object's.
pub const ERANGE: i32 = 34;
/// EOVERFLOW, the other side of a version assertion.
pub const EOVERFLOW: i32 = 75;
/// ETIMEDOUT: the operation did not complete within the client's timeout.
pub const ETIMEDOUT: i32 = 110;
/// ENOSPC / EDQUOT: the cluster or pool is full.
pub const ENOSPC: i32 = 28;
/// EDQUOT: the pool's quota is reached.
pub const EDQUOT: i32 = 122;
/// ECANCELED: an omap comparison did not hold.
pub const ECANCELED: i32 = 125;
/// EBLOCKLISTED (ESHUTDOWN): the OSDs refuse this client, fenced by another process.
pub const EBLOCKLISTED: i32 = 108;

pub(super) fn check(op: &'static str, rv: c_int) -> Result<c_int, RadosError> {
    if rv < 0 {
        Err(RadosError { op, errno: -rv })
    } else {
        Ok(rv)
    }
}

pub(super) fn c_string(op: &'static str, text: &str) -> Result<CString, RadosError> {
    CString::new(text).map_err(|_| RadosError { op, errno: 22 })
}

/// A connected cluster handle (thread-safe, as librados documents).
#[derive(Debug)]
pub struct Cluster {
    pub(super) handle: ffi::rados_t,
    /// Set at the first EBLOCKLISTED: another process took a shard of this client
    /// over. Kept for good, so that nothing more is sent even once the cluster's
    /// blocklist entry expires (a cache here may be stale by then).
    fenced: std::sync::atomic::AtomicBool,
}

// SAFETY: librados cluster handles may be used from any thread once connected.
unsafe impl Send for Cluster {}
// SAFETY: as above; every call through `&Cluster` is a thread-safe librados call.
unsafe impl Sync for Cluster {}

impl Cluster {
    /// Connects as client `admin` with the settings of `conf`, then `settings`
    /// (`rados_osd_op_timeout`, ...). Blocks until connected or failed.
    pub fn connect(conf: &Path, settings: &[(&str, &str)]) -> Result<Arc<Self>, RadosError> {
        let mut handle: ffi::rados_t = std::ptr::null_mut();
        // SAFETY: `handle` is a valid out-pointer; a null id means "admin".
        check("rados_create", unsafe {
            ffi::rados_create(&mut handle, std::ptr::null())
        })?;
        // From here `cluster` owns the handle and shuts it down on every exit.
        let cluster = Self {
            handle,
            fenced: std::sync::atomic::AtomicBool::new(false),
        };
        let path = c_string("rados_conf_read_file", &conf.to_string_lossy())?;
        // SAFETY: a live handle and a NUL-terminated path.
        check("rados_conf_read_file", unsafe {
            ffi::rados_conf_read_file(cluster.handle, path.as_ptr())
        })?;
        for (option, value) in settings {
            let (option, value) = (
                c_string("rados_conf_set", option)?,
                c_string("rados_conf_set", value)?,
            );
            // SAFETY: a live handle and NUL-terminated strings.
            check("rados_conf_set", unsafe {
                ffi::rados_conf_set(cluster.handle, option.as_ptr(), value.as_ptr())
            })?;
        }
        // SAFETY: a configured, not yet connected handle.
        check("rados_connect", unsafe {
            ffi::rados_connect(cluster.handle)
        })?;
        Ok(Arc::new(cluster))
    }

    /// An I/O context on `pool`, its objects under `namespace`.
    pub fn pool(self: &Arc<Self>, pool: &str, namespace: &str) -> Result<Pool, RadosError> {
        let name = c_string("rados_ioctx_create", pool)?;
        let mut io: ffi::rados_ioctx_t = std::ptr::null_mut();
        // SAFETY: a connected handle, a NUL-terminated name and a valid out-pointer.
        check("rados_ioctx_create", unsafe {
            ffi::rados_ioctx_create(self.handle, name.as_ptr(), &mut io)
        })?;
        let namespace = c_string("rados_ioctx_set_namespace", namespace)?;
        // SAFETY: a live I/O context not yet shared with another thread.
        unsafe { ffi::rados_ioctx_set_namespace(io, namespace.as_ptr()) };
        Ok(Pool {
            cluster: Arc::clone(self),
            io,
        })
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // SAFETY: every Pool holds an Arc of its Cluster, so none is left.
        unsafe { ffi::rados_shutdown(self.handle) };
    }
}

/// An I/O context: one pool, one namespace.
#[derive(Debug)]
pub struct Pool {
    pub(super) cluster: Arc<Cluster>,
    pub(super) io: ffi::rados_ioctx_t,
}

// SAFETY: librados I/O contexts are thread-safe for object operations; the namespace
// is set once, before the context is shared.
unsafe impl Send for Pool {}
// SAFETY: as above.
unsafe impl Sync for Pool {}

impl Drop for Pool {
    fn drop(&mut self) {
        // SAFETY: operations in flight keep no pointer to the context after they
        // complete, and a Pool is dropped only when no call of it is pending.
        unsafe { ffi::rados_ioctx_destroy(self.io) };
    }
}

/// The first read's buffer; a larger object is read again at its size.
const FIRST_READ: usize = 64 * 1024;

/// The state of one operation in flight, owned by its completion callback.
struct Pending {
    /// Buffers the operation points into.
    _keep: Vec<Vec<u8>>,
    _pointers: Vec<Vec<*const c_char>>,
    _lengths: Vec<Vec<usize>>,
    op: Op,
    read: Box<ReadState>,
    reply: Option<oneshot::Sender<Result<ReadResult, RadosError>>>,
}

enum Op {
    Write(ffi::rados_write_op_t),
    Read(ffi::rados_read_op_t),
}

struct ReadState {
    buffer: Vec<u8>,
    bytes_read: usize,
    read_rval: c_int,
    size: u64,
    stat_rval: c_int,
    iter_keys: ffi::rados_omap_iter_t,
    keys_rval: c_int,
    iter_after: ffi::rados_omap_iter_t,
    after_rval: c_int,
    more: u8,
}

/// Drains an omap iterator librados filled (when `filled`), and ends it.
///
/// librados allocates the iterator when the operation is built but positions it only
/// when a reply arrives: after a failed or timed-out operation it must be ended
/// without being read (reading it crashed librados in the lost-disk test).
///
/// # Safety
/// `iter` is null or an iterator of a completed read operation not yet ended.
unsafe fn drain(iter: ffi::rados_omap_iter_t, filled: bool, into: &mut Vec<(Vec<u8>, Vec<u8>)>) {
    if iter.is_null() {
        return;
    }
    if filled {
        // SAFETY: a completed, successful read's iterator, not yet ended.
        unsafe { drain_filled(iter, into) };
    }
    // SAFETY: ends the iterator once; it is not used after.
    unsafe { ffi::rados_omap_get_end(iter) };
}

/// Reads a positioned omap iterator to its end.
///
/// # Safety
/// `iter` is an iterator of a successfully completed read operation, not yet ended.
unsafe fn drain_filled(iter: ffi::rados_omap_iter_t, into: &mut Vec<(Vec<u8>, Vec<u8>)>) {
    loop {
        let (mut key, mut val) = (std::ptr::null_mut(), std::ptr::null_mut());
        let (mut key_len, mut val_len) = (0usize, 0usize);
        // SAFETY: a live iterator and valid out-pointers (the caller's contract).
        let rv = unsafe {
            ffi::rados_omap_get_next2(iter, &mut key, &mut val, &mut key_len, &mut val_len)
        };
        if rv < 0 || key.is_null() {
            break;
        }
        // SAFETY: librados returns key_len / val_len bytes at key / val, valid until the
        // next call on the iterator.
        let (k, v) = unsafe {
            (
                std::slice::from_raw_parts(key.cast::<u8>(), key_len).to_vec(),
                if val.is_null() {
                    Vec::new()
                } else {
                    std::slice::from_raw_parts(val.cast::<u8>(), val_len).to_vec()
                },
            )
        };
        into.push((k, v));
    }
}

/// librados's completion callback (on one of its threads): collects the result, frees
/// the operation and the completion, and wakes the awaiting future if it still waits.
unsafe extern "C" fn completed(completion: ffi::rados_completion_t, arg: *mut c_void) {
    // SAFETY: `arg` is the Box<Pending> leaked when the operation was submitted, and
    // librados calls this exactly once.
    let mut pending = unsafe { Box::from_raw(arg.cast::<Pending>()) };
    // SAFETY: the completion is complete; reading its value and version is allowed.
    let (rv, version) = unsafe {
        (
            ffi::rados_aio_get_return_value(completion),
            ffi::rados_aio_get_version(completion),
        )
    };
    let result = match pending.op {
        Op::Write(op) => {
            // SAFETY: the operation completed; librados no longer uses it.
            unsafe { ffi::rados_release_write_op(op) };
            check("write", rv).map(|_| ReadResult {
                version,
                ..ReadResult::default()
            })
        }
        Op::Read(op) => {
            let state = &mut pending.read;
            let mut omap = Vec::new();
            let ok = rv >= 0;
            // SAFETY: the iterators belong to this completed read and are ended here.
            unsafe {
                drain(state.iter_keys, ok && state.keys_rval >= 0, &mut omap);
                drain(state.iter_after, ok && state.after_rval >= 0, &mut omap);
                ffi::rados_release_read_op(op);
            }
            let rvals = [
                rv,
                state.stat_rval,
                state.read_rval,
                state.keys_rval,
                state.after_rval,
            ];
            match rvals.into_iter().find(|rv| *rv < 0) {
                Some(rv) => Err(RadosError {
                    op: "read",
                    errno: -rv,
                }),
                None => {
                    let mut data = std::mem::take(&mut state.buffer);
                    data.truncate(state.bytes_read);
                    omap.sort();
                    Ok(ReadResult {
                        data,
                        version,
                        omap,
                        more: state.more != 0,
                        size: state.size,
                    })
                }
            }
        }
    };
    // SAFETY: librados holds its own reference for the callback's duration; this
    // drops the one rados_aio_create_completion2 gave us.
    unsafe { ffi::rados_aio_release(completion) };
    if let Some(reply) = pending.reply.take() {
        let _ = reply.send(result);
    }
}

/// The channel an operation's callback answers on.
type Answer = oneshot::Receiver<Result<ReadResult, RadosError>>;

/// Awaits an operation's callback, up to `timeout` (ETIMEDOUT after it; the
/// operation's buffers stay with the callback, which frees them when librados is done).
async fn wait(answer: Answer, timeout: Duration) -> Result<ReadResult, RadosError> {
    match tokio::time::timeout(timeout, answer).await {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err(RadosError {
            op: "completion dropped",
            errno: 5,
        }),
        Err(_) => Err(RadosError {
            op: "operation timed out",
            errno: ETIMEDOUT,
        }),
    }
}

/// Pointer arrays for omap keys and values, kept alive in `Pending`.
fn omap_arrays(
    entries: &[(Vec<u8>, Vec<u8>)],
) -> (
    Vec<*const c_char>,
    Vec<*const c_char>,
    Vec<usize>,
    Vec<usize>,
) {
    (
        entries.iter().map(|(k, _)| k.as_ptr().cast()).collect(),
        entries.iter().map(|(_, v)| v.as_ptr().cast()).collect(),
        entries.iter().map(|(k, _)| k.len()).collect(),
        entries.iter().map(|(_, v)| v.len()).collect(),
    )
}

impl Pool {
    /// Applies `op` to `oid` atomically; the object's new version once every replica
    /// of the acting set has it.
    pub async fn write(
        &self,
        oid: &str,
        op: WriteOp,
        timeout: Duration,
    ) -> Result<u64, RadosError> {
        self.unfenced()?;
        let answer = self.start_write(oid, op)?;
        Ok(self.noting(wait(answer, timeout).await)?.version)
    }

    /// EBLOCKLISTED at once when this client was fenced.
    fn unfenced(&self) -> Result<(), RadosError> {
        if self.cluster.fenced.load(Ordering::Relaxed) {
            return Err(RadosError {
                op: "fenced: another process took this shard over",
                errno: EBLOCKLISTED,
            });
        }
        Ok(())
    }

    /// Notes a refusal for being blocklisted on the cluster handle, saying so once.
    fn noting<T>(&self, result: Result<T, RadosError>) -> Result<T, RadosError> {
        if let Err(e) = &result
            && e.errno == EBLOCKLISTED
            && !self.cluster.fenced.swap(true, Ordering::Relaxed)
        {
            tracing::error!(
                "this process is fenced: another one took its shard over in the Ceph pool, and every write of this one is refused; stop it"
            );
        }
        result
    }

    fn start_write(&self, oid: &str, op: WriteOp) -> Result<Answer, RadosError> {
        let oid = c_string("write", oid)?;
        let WriteOp {
            create_exclusive,
            assert_version,
            write_full,
            omap,
            omap_equals,
            remove,
        } = op;
        // SAFETY: creates a fresh operation, owned by `Pending` until released.
        let raw = unsafe { ffi::rados_create_write_op() };
        let (keys, vals, key_lens, val_lens) = omap_arrays(&omap);
        let full = write_full.is_some();
        let data = write_full.unwrap_or_default();
        // SAFETY: `raw` is live; every pointer given to it points into buffers that
        // `Pending` keeps (heap data of `omap`, `data`, the arrays) until completion.
        unsafe {
            if create_exclusive {
                ffi::rados_write_op_create(raw, ffi::LIBRADOS_CREATE_EXCLUSIVE, std::ptr::null());
            }
            if let Some(version) = assert_version {
                ffi::rados_write_op_assert_version(raw, version);
            }
            if let Some((key, value)) = &omap_equals {
                ffi::rados_write_op_omap_cmp2(
                    raw,
                    key.as_ptr().cast(),
                    ffi::LIBRADOS_CMPXATTR_OP_EQ,
                    value.as_ptr().cast(),
                    key.len(),
                    value.len(),
                    std::ptr::null_mut(),
                );
            }
            if remove {
                ffi::rados_write_op_remove(raw);
            } else if full {
                ffi::rados_write_op_write_full(raw, data.as_ptr().cast(), data.len());
            }
            if !omap.is_empty() {
                ffi::rados_write_op_omap_set2(
                    raw,
                    keys.as_ptr(),
                    vals.as_ptr(),
                    key_lens.as_ptr(),
                    val_lens.as_ptr(),
                    omap.len(),
                );
            }
        }
        let mut keep: Vec<Vec<u8>> = omap.into_iter().flat_map(|(k, v)| [k, v]).collect();
        keep.push(data);
        keep.extend(omap_equals.into_iter().flat_map(|(k, v)| [k, v]));
        let pending = Pending {
            _keep: keep,
            _pointers: vec![keys, vals],
            _lengths: vec![key_lens, val_lens],
            op: Op::Write(raw),
            read: Box::new(ReadState::empty()),
            reply: None,
        };
        self.submit(pending, |completion, io| {
            // SAFETY: live operation, context and completion; `oid` outlives the call
            // (librados copies the name).
            unsafe {
                ffi::rados_aio_write_op_operate(
                    raw,
                    io,
                    completion,
                    oid.as_ptr(),
                    std::ptr::null_mut(),
                    0,
                )
            }
        })
    }

    /// Reads `oid` as `op` asks; ENOENT when it does not exist.
    pub async fn read(
        &self,
        oid: &str,
        op: ReadOp,
        timeout: Duration,
    ) -> Result<ReadResult, RadosError> {
        self.unfenced()?;
        let first = self.noting(wait(self.start_read(oid, &op, FIRST_READ)?, timeout).await)?;
        if op.data && first.size > first.data.len() as u64 {
            // A larger object: read again at the size the stat gave.
            let size = usize::try_from(first.size).unwrap_or(usize::MAX);
            return self.noting(wait(self.start_read(oid, &op, size)?, timeout).await);
        }
        Ok(first)
    }

    fn start_read(&self, oid: &str, op: &ReadOp, buffer: usize) -> Result<Answer, RadosError> {
        let oid = c_string("read", oid)?;
        // SAFETY: creates a fresh operation, owned by `Pending` until released.
        let raw = unsafe { ffi::rados_create_read_op() };
        let mut state = Box::new(ReadState::empty());
        if op.data {
            state.buffer = vec![0; buffer];
        }
        let key_ptrs: Vec<*const c_char> = op.omap_keys.iter().map(|k| k.as_ptr().cast()).collect();
        let key_lens: Vec<usize> = op.omap_keys.iter().map(Vec::len).collect();
        let (after, prefix) = match &op.omap_after {
            Some((after, prefix, _)) => (c_string("read", after)?, c_string("read", prefix)?),
            None => (CString::default(), CString::default()),
        };
        // SAFETY: `raw` is live; the out-pointers point into `state` (boxed, so they
        // stay put) and the inputs into buffers `Pending` keeps until completion.
        unsafe {
            ffi::rados_read_op_stat(
                raw,
                &mut state.size,
                std::ptr::null_mut(),
                &mut state.stat_rval,
            );
            if op.data {
                ffi::rados_read_op_read(
                    raw,
                    0,
                    state.buffer.len(),
                    state.buffer.as_mut_ptr().cast(),
                    &mut state.bytes_read,
                    &mut state.read_rval,
                );
            }
            if !op.omap_keys.is_empty() {
                ffi::rados_read_op_omap_get_vals_by_keys2(
                    raw,
                    key_ptrs.as_ptr(),
                    key_ptrs.len(),
                    key_lens.as_ptr(),
                    &mut state.iter_keys,
                    &mut state.keys_rval,
                );
            }
            if let Some((_, _, max)) = &op.omap_after {
                ffi::rados_read_op_omap_get_vals2(
                    raw,
                    after.as_ptr(),
                    prefix.as_ptr(),
                    *max,
                    &mut state.iter_after,
                    &mut state.more,
                    &mut state.after_rval,
                );
            }
        }
        let mut keep = op.omap_keys.clone();
        keep.push(after.into_bytes_with_nul());
        keep.push(prefix.into_bytes_with_nul());
        let pending = Pending {
            _keep: keep,
            _pointers: vec![key_ptrs],
            _lengths: vec![key_lens],
            op: Op::Read(raw),
            read: state,
            reply: None,
        };
        self.submit(pending, |completion, io| {
            // SAFETY: live operation, context and completion; librados copies the name.
            unsafe { ffi::rados_aio_read_op_operate(raw, io, completion, oid.as_ptr(), 0) }
        })
    }

    /// Hands `pending` to librados through `operate`; the callback answers on the
    /// channel returned.
    fn submit(
        &self,
        mut pending: Pending,
        operate: impl FnOnce(ffi::rados_completion_t, ffi::rados_ioctx_t) -> c_int,
    ) -> Result<Answer, RadosError> {
        let (reply, answer) = oneshot::channel();
        pending.reply = Some(reply);
        let arg = Box::into_raw(Box::new(pending));
        let mut completion: ffi::rados_completion_t = std::ptr::null_mut();
        // SAFETY: `arg` stays valid until the callback takes it back; a valid out-pointer.
        let created = unsafe {
            ffi::rados_aio_create_completion2(arg.cast(), Some(completed), &mut completion)
        };
        if created < 0 {
            // SAFETY: never handed to librados: reclaim and free here.
            let pending = unsafe { Box::from_raw(arg) };
            pending.release_op();
            return Err(RadosError {
                op: "rados_aio_create_completion2",
                errno: -created,
            });
        }
        let submitted = operate(completion, self.io);
        if submitted < 0 {
            // SAFETY: the operation was refused, so the callback will not run: free
            // the completion and the state here.
            unsafe {
                ffi::rados_aio_release(completion);
                let pending = Box::from_raw(arg);
                pending.release_op();
            }
            return Err(RadosError {
                op: "submit",
                errno: -submitted,
            });
        }
        Ok(answer)
    }

    /// The pool's figures (bytes and objects stored, before replication).
    pub fn stat(&self) -> Result<ffi::rados_pool_stat_t, RadosError> {
        let mut stats = ffi::rados_pool_stat_t::default();
        // SAFETY: a live context and a valid out-pointer.
        check("rados_ioctx_pool_stat", unsafe {
            ffi::rados_ioctx_pool_stat(self.io, &mut stats)
        })?;
        Ok(stats)
    }

    /// Names of the objects in this namespace that start with `prefix` (a full
    /// listing: blocking, for start-up and tools, not for the request path).
    pub fn list(&self, prefix: &str) -> Result<Vec<String>, RadosError> {
        let mut ctx: ffi::rados_list_ctx_t = std::ptr::null_mut();
        // SAFETY: a live context and a valid out-pointer.
        check("rados_nobjects_list_open", unsafe {
            ffi::rados_nobjects_list_open(self.io, &mut ctx)
        })?;
        let mut names = Vec::new();
        let result = loop {
            let mut entry: *const c_char = std::ptr::null();
            let mut entry_len = 0usize;
            // SAFETY: a live listing and valid out-pointers; key and namespace are not
            // asked for.
            let rv = unsafe {
                ffi::rados_nobjects_list_next2(
                    ctx,
                    &mut entry,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    &mut entry_len,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                )
            };
            if rv == -ENOENT {
                break Ok(());
            }
            if rv < 0 {
                break Err(RadosError {
                    op: "rados_nobjects_list_next2",
                    errno: -rv,
                });
            }
            // SAFETY: librados returns entry_len bytes at entry, valid until the next call.
            let name = unsafe { std::slice::from_raw_parts(entry.cast::<u8>(), entry_len) };
            let name = String::from_utf8_lossy(name);
            if name.starts_with(prefix) {
                names.push(name.into_owned());
            }
        };
        // SAFETY: closes the listing once.
        unsafe { ffi::rados_nobjects_list_close(ctx) };
        result.map(|()| names)
    }
}

impl ReadState {
    fn empty() -> Self {
        Self {
            buffer: Vec::new(),
            bytes_read: 0,
            read_rval: 0,
            size: 0,
            stat_rval: 0,
            iter_keys: std::ptr::null_mut(),
            keys_rval: 0,
            iter_after: std::ptr::null_mut(),
            after_rval: 0,
            more: 0,
        }
    }
}

impl Pending {
    /// Frees the operation of a submission that never reached librados.
    fn release_op(&self) {
        // SAFETY: the operation was created by us and librados holds no reference.
        unsafe {
            match self.op {
                Op::Write(op) => ffi::rados_release_write_op(op),
                Op::Read(op) => ffi::rados_release_read_op(op),
            }
        }
    }
}
