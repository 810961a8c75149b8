//! Compound operations on one object, as built by the store and run by `client.rs`.

/// A compound write to one object, applied atomically.
#[derive(Debug, Default, Clone)]
pub struct WriteOp {
    pub(super) create_exclusive: bool,
    pub(super) assert_version: Option<u64>,
    pub(super) write_full: Option<Vec<u8>>,
    pub(super) omap: Vec<(Vec<u8>, Vec<u8>)>,
    pub(super) omap_equals: Option<(Vec<u8>, Vec<u8>)>,
    pub(super) remove: bool,
}

impl WriteOp {
    /// Fails with EEXIST when the object exists.
    #[must_use]
    pub fn create_exclusive(mut self) -> Self {
        self.create_exclusive = true;
        self
    }

    /// Fails (ERANGE or EOVERFLOW) unless the object's version is `version`.
    #[must_use]
    pub fn assert_version(mut self, version: u64) -> Self {
        self.assert_version = Some(version);
        self
    }

    /// Replaces the object's data.
    #[must_use]
    pub fn write_full(mut self, data: Vec<u8>) -> Self {
        self.write_full = Some(data);
        self
    }

    /// Sets an omap key.
    #[must_use]
    pub fn omap_set(mut self, key: Vec<u8>, value: Vec<u8>) -> Self {
        self.omap.push((key, value));
        self
    }

    /// Fails with ECANCELED unless omap key `key` holds exactly `value` (the whole
    /// operation then changes nothing).
    #[must_use]
    pub fn omap_equals(mut self, key: Vec<u8>, value: Vec<u8>) -> Self {
        self.omap_equals = Some((key, value));
        self
    }

    /// Removes the object.
    #[must_use]
    pub fn remove(mut self) -> Self {
        self.remove = true;
        self
    }
}

/// A compound read of one object.
#[derive(Debug, Default, Clone)]
pub struct ReadOp {
    pub(super) data: bool,
    pub(super) omap_keys: Vec<Vec<u8>>,
    pub(super) omap_after: Option<(String, String, u64)>,
}

impl ReadOp {
    /// Reads the object's data (whole).
    #[must_use]
    pub fn data(mut self) -> Self {
        self.data = true;
        self
    }

    /// Reads these omap keys (those present come back).
    #[must_use]
    pub fn omap_keys(mut self, keys: Vec<Vec<u8>>) -> Self {
        self.omap_keys = keys;
        self
    }

    /// Reads up to `max` omap entries with keys after `start_after` that begin with
    /// `prefix`, in key order.
    #[must_use]
    pub fn omap_after(mut self, start_after: &str, prefix: &str, max: u64) -> Self {
        self.omap_after = Some((start_after.to_owned(), prefix.to_owned(), max));
        self
    }
}

/// What a read found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReadResult {
    /// The object's data, when asked for.
    pub data: Vec<u8>,
    /// The object's version.
    pub version: u64,
    /// The omap entries found, in key order.
    pub omap: Vec<(Vec<u8>, Vec<u8>)>,
    /// Whether more omap entries follow those returned.
    pub more: bool,
    /// The object's size, bytes.
    pub size: u64,
}
