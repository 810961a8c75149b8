//! One process writes a shard's namespace, and the cluster enforces it. Opening a
//! store (or copying into one) takes an exclusive RADOS lock on `lock.{chain}`; a
//! lock held by another client is broken after that client is blocklisted (`ceph osd
//! blocklist`), the fencing RBD's exclusive lock uses. From the OSD map that carries
//! the blocklist on, every operation of the process before is refused, including one
//! it sent before it died or hung that an OSD has not applied yet. The record cache
//! and the in-memory replay window rely on this: nothing but this process can change
//! the namespace while it serves.

use std::ffi::{c_char, c_int};

use super::client::{Cluster, ENOENT, ERANGE, Pool, RadosError, c_string, check};
use super::ffi;

/// The lock's name on the lock object.
const LOCK: &str = "idauth-shard";
/// EBUSY: another (client, cookie) holds the lock.
const EBUSY: i32 = 16;
/// How long a fenced client stays blocklisted: 30 days rather than the monitor's
/// hour, so that a process stopped (not killed) cannot wake after the entry expires
/// and write again; it also stops itself at its first refusal (`Cluster::fenced`).
const BLOCKLIST_SECONDS: u32 = 30 * 24 * 3600;
/// How many times a lock broken by us may be taken by somebody else first.
const TRIES: usize = 5;

/// What taking a shard over did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TakeOver {
    /// Clients blocklisted because they held the shard's lock.
    pub fenced: usize,
}

/// One holder of a lock, as `rados_list_lockers` names it.
#[derive(Debug)]
struct Locker {
    client: String,
    cookie: String,
    addr: String,
}

/// Takes the lock of shard `chain` in `pool`'s namespace for this client, fencing
/// whichever other client held it. Blocking (a monitor command and a lock operation):
/// call it at start-up, off the reactor.
pub fn take_over(pool: &Pool, chain: &str) -> Result<TakeOver, RadosError> {
    let oid = format!("lock.{chain}");
    let mut cookie = [0u8; 8];
    getrandom::fill(&mut cookie).map_err(|_| RadosError {
        op: "getrandom",
        errno: 5,
    })?;
    let cookie: String = cookie.iter().map(|b| format!("{b:02x}")).collect();
    let own = nonces(&pool.cluster.addrs()?);
    let mut fenced = 0;
    for _ in 0..TRIES {
        match lock_exclusive(pool, &oid, &cookie) {
            Ok(()) => {
                if fenced > 0 {
                    pool.cluster.wait_for_latest_osdmap()?;
                }
                return Ok(TakeOver { fenced });
            }
            Err(e) if e.errno == EBUSY => {
                for locker in lockers(pool, &oid)? {
                    // A store of this same client opened before (a restart in one
                    // process): its operations are ordered before ours, so the lock
                    // is only broken.
                    if !nonces(&locker.addr).iter().any(|n| own.contains(n)) {
                        tracing::warn!(
                            shard = chain,
                            holder = %locker.client,
                            "a shard was held by another client; blocklisting it before taking over"
                        );
                        pool.cluster.blocklist(&locker.addr)?;
                        fenced += 1;
                    }
                    match break_lock(pool, &oid, &locker) {
                        Err(e) if e.errno != ENOENT => return Err(e),
                        _ => {}
                    }
                }
            }
            Err(e) => return Err(e),
        }
    }
    Err(RadosError {
        op: "rados_lock_exclusive: the shard's lock kept being taken",
        errno: EBUSY,
    })
}

/// The nonces (the part after `/`) of an address list such as
/// `[v2:127.0.0.1:0/123,v1:127.0.0.1:0/123]` or `127.0.0.1:0/123`: one per client
/// instance.
fn nonces(addrs: &str) -> Vec<String> {
    addrs
        .trim_matches(|c| c == '[' || c == ']')
        .split(',')
        .filter_map(|addr| addr.rsplit_once('/').map(|(_, nonce)| nonce.to_owned()))
        .filter(|nonce| !nonce.is_empty() && nonce != "0")
        .collect()
}

fn lock_exclusive(pool: &Pool, oid: &str, cookie: &str) -> Result<(), RadosError> {
    const OP: &str = "rados_lock_exclusive";
    let (oid, name, cookie) = (
        c_string(OP, oid)?,
        c_string(OP, LOCK)?,
        c_string(OP, cookie)?,
    );
    let desc = c_string(OP, &format!("idauth shard, pid {}", std::process::id()))?;
    // SAFETY: a live context, NUL-terminated strings and no duration (held until
    // broken or unlocked).
    check(OP, unsafe {
        ffi::rados_lock_exclusive(
            pool.io,
            oid.as_ptr(),
            name.as_ptr(),
            cookie.as_ptr(),
            desc.as_ptr(),
            std::ptr::null_mut(),
            0,
        )
    })
    .map(|_| ())
}

fn lockers(pool: &Pool, oid: &str) -> Result<Vec<Locker>, RadosError> {
    const OP: &str = "rados_list_lockers";
    let (oid, name) = (c_string(OP, oid)?, c_string(OP, LOCK)?);
    let mut sizes = [256usize; 4];
    loop {
        let mut buffers: Vec<Vec<u8>> = sizes.iter().map(|&n| vec![0u8; n]).collect();
        let mut lengths = sizes;
        let mut exclusive: c_int = 0;
        let [tag, clients, cookies, addrs] = &mut buffers[..] else {
            unreachable!("four buffers")
        };
        let [tag_len, clients_len, cookies_len, addrs_len] = &mut lengths;
        // SAFETY: a live context, NUL-terminated names, and each buffer with its
        // true length; librados writes no further than those lengths.
        let rv = unsafe {
            ffi::rados_list_lockers(
                pool.io,
                oid.as_ptr(),
                name.as_ptr(),
                &mut exclusive,
                tag.as_mut_ptr().cast::<c_char>(),
                tag_len,
                clients.as_mut_ptr().cast::<c_char>(),
                clients_len,
                cookies.as_mut_ptr().cast::<c_char>(),
                cookies_len,
                addrs.as_mut_ptr().cast::<c_char>(),
                addrs_len,
            )
        };
        if rv == -(ERANGE as isize) {
            // The lengths now hold the sizes needed; growing each at least twofold
            // ends the loop whatever they say.
            for (size, needed) in sizes.iter_mut().zip(lengths) {
                *size = needed.max(*size * 2);
            }
            continue;
        }
        if rv < 0 {
            return Err(RadosError {
                op: OP,
                errno: -(rv as i32),
            });
        }
        let split = |buffer: &[u8], len: usize| -> Vec<String> {
            buffer[..len.min(buffer.len())]
                .split(|&b| b == 0)
                .filter(|part| !part.is_empty())
                .map(|part| String::from_utf8_lossy(part).into_owned())
                .collect()
        };
        let clients = split(clients, lengths[1]);
        let cookies = split(cookies, lengths[2]);
        let addrs = split(addrs, lengths[3]);
        return Ok(clients
            .into_iter()
            .zip(cookies)
            .zip(addrs)
            .map(|((client, cookie), addr)| Locker {
                client,
                cookie,
                addr,
            })
            .collect());
    }
}

fn break_lock(pool: &Pool, oid: &str, locker: &Locker) -> Result<(), RadosError> {
    const OP: &str = "rados_break_lock";
    let (oid, name) = (c_string(OP, oid)?, c_string(OP, LOCK)?);
    let (client, cookie) = (c_string(OP, &locker.client)?, c_string(OP, &locker.cookie)?);
    // SAFETY: a live context and NUL-terminated strings.
    check(OP, unsafe {
        ffi::rados_break_lock(
            pool.io,
            oid.as_ptr(),
            name.as_ptr(),
            client.as_ptr(),
            cookie.as_ptr(),
        )
    })
    .map(|_| ())
}

impl Cluster {
    /// This client's addresses, as the cluster sees them (`rados_getaddrs`).
    pub fn addrs(&self) -> Result<String, RadosError> {
        let mut addrs: *mut c_char = std::ptr::null_mut();
        // SAFETY: a connected handle and a valid out-pointer.
        check("rados_getaddrs", unsafe {
            ffi::rados_getaddrs(self.handle, &mut addrs)
        })?;
        // SAFETY: librados returned a NUL-terminated string it allocated, freed once
        // below with rados_buffer_free.
        let text = unsafe { std::ffi::CStr::from_ptr(addrs) }
            .to_string_lossy()
            .into_owned();
        // SAFETY: as above.
        unsafe { ffi::rados_buffer_free(addrs) };
        Ok(text)
    }

    /// Blocklists client `addr` on every OSD for [`BLOCKLIST_SECONDS`] and waits for
    /// this client's map to carry it.
    fn blocklist(&self, addr: &str) -> Result<(), RadosError> {
        let addr = c_string("rados_blocklist_add", addr)?;
        // SAFETY: a connected handle and a NUL-terminated address librados only reads.
        check("rados_blocklist_add", unsafe {
            ffi::rados_blocklist_add(self.handle, addr.as_ptr().cast_mut(), BLOCKLIST_SECONDS)
        })
        .map(|_| ())
    }

    fn wait_for_latest_osdmap(&self) -> Result<(), RadosError> {
        // SAFETY: a connected handle.
        check("rados_wait_for_latest_osdmap", unsafe {
            ffi::rados_wait_for_latest_osdmap(self.handle)
        })
        .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::nonces;

    #[test]
    fn an_address_list_names_its_client_by_nonce() {
        assert_eq!(
            nonces("[v2:127.0.0.1:0/3340296486,v1:127.0.0.1:0/3340296486]"),
            ["3340296486", "3340296486"]
        );
        assert_eq!(nonces("127.0.0.1:0/42"), ["42"]);
        assert!(nonces("127.0.0.1:0/0").is_empty());
        assert!(nonces("").is_empty());
    }
}
