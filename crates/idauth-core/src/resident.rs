//! Residents as the service names and describes them.

use serde::{Deserialize, Serialize};

use crate::attributes::{DateOfBirth, Gender};
use crate::finger::FingerPosition;
use crate::template_format::TemplateFormat;

/// Longest identifier value accepted.
pub const MAX_IDENTIFIER_LEN: usize = 64;

/// The kind of identifier a caller uses for a resident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum IdentifierType {
    /// The national id number.
    NationalId,
    /// A revocable virtual id standing for the national id.
    VirtualId,
}

impl IdentifierType {
    /// The tag mixed into the storage key, so that equal strings of different types
    /// never name the same record.
    pub fn tag(self) -> &'static str {
        match self {
            Self::NationalId => "national-id",
            Self::VirtualId => "virtual-id",
        }
    }
}

/// A validated resident identifier. Deliberately not `Display`: identifiers must not
/// reach logs by accident.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ResidentId {
    kind: IdentifierType,
    value: String,
}

impl std::fmt::Debug for ResidentId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ResidentId({:?}, <redacted>)", self.kind)
    }
}

impl ResidentId {
    /// Validates a value: 1 to 64 ASCII letters, digits or '-'.
    pub fn new(kind: IdentifierType, value: &str) -> Option<Self> {
        let valid = !value.is_empty()
            && value.len() <= MAX_IDENTIFIER_LEN
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        valid.then(|| Self {
            kind,
            value: value.to_owned(),
        })
    }

    /// The identifier type.
    pub fn kind(&self) -> IdentifierType {
        self.kind
    }

    /// The identifier value.
    pub fn value(&self) -> &str {
        &self.value
    }
}

/// Where a resident's record lives inside its shard: a keyed hash of the identifier,
/// so that the store never holds the identifier itself.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StorageKey(pub [u8; 32]);

impl std::fmt::Debug for StorageKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A prefix is enough to correlate log lines and reveals nothing useful.
        write!(
            f,
            "StorageKey({:02x}{:02x}{:02x}{:02x}..)",
            self.0[0], self.0[1], self.0[2], self.0[3]
        )
    }
}

/// One finger as a caller sends it: position, format and the record bytes.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FingerSample {
    /// Which finger (`Unknown` only in probes).
    pub position: FingerPosition,
    /// The record format.
    pub format: TemplateFormat,
    /// The minutiae record as written by the extractor.
    pub template: Vec<u8>,
}

impl std::fmt::Debug for FingerSample {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FingerSample")
            .field("position", &self.position)
            .field("format", &self.format)
            .field("template_bytes", &self.template.len())
            .finish()
    }
}

/// A postal address; empty strings are absent fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    /// Street and house.
    pub line: String,
    /// Village, town or city.
    pub locality: String,
    /// District.
    pub district: String,
    /// State or province.
    pub state: String,
    /// Postal code.
    pub postal_code: String,
}

impl Address {
    /// Whether every field is empty.
    pub fn is_empty(&self) -> bool {
        self.fields().iter().all(|field| field.is_empty())
    }

    /// The fields in declaration order.
    pub fn fields(&self) -> [&str; 5] {
        [
            &self.line,
            &self.locality,
            &self.district,
            &self.state,
            &self.postal_code,
        ]
    }
}

/// Demographic attributes as enrolled; empty strings are absent fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Demographics {
    /// Full name as written on the resident's documents.
    pub name: String,
    /// YYYY-MM-DD.
    pub date_of_birth: DateOfBirth,
    /// "M", "F" or "T".
    pub gender: Gender,
    /// Postal address.
    pub address: Address,
}

/// How a name is compared.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum NameMatch {
    /// Byte-for-byte equality.
    #[default]
    Exact,
    /// After case folding, space collapsing and diacritic removal, every word of the
    /// queried name is a word of the enrolled name.
    Partial,
}

/// The demographic attributes a verify asks to check; empty fields are not checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DemographicQuery {
    /// Name to compare.
    pub name: String,
    /// How to compare the name.
    pub name_match: NameMatch,
    /// Date of birth to compare.
    pub date_of_birth: DateOfBirth,
    /// Gender to compare.
    pub gender: Gender,
    /// Address fields to compare (each non-empty field must match).
    pub address: Address,
}

impl DemographicQuery {
    /// Whether the query checks nothing.
    pub fn is_empty(&self) -> bool {
        self.name.is_empty()
            && self.date_of_birth.is_empty()
            && self.gender.is_empty()
            && self.address.is_empty()
    }
}

/// A factor a verify can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Factor {
    /// The fingerprints.
    Fingerprint,
    /// The name.
    Name,
    /// The date of birth.
    DateOfBirth,
    /// The gender.
    Gender,
    /// The address.
    Address,
}

impl Factor {
    /// Every factor.
    pub const ALL: [Factor; 5] = [
        Self::Fingerprint,
        Self::Name,
        Self::DateOfBirth,
        Self::Gender,
        Self::Address,
    ];

    /// The factors a verify uses: fingerprint when it carries fingers, and each
    /// demographic attribute it sets.
    pub fn used_by(has_fingers: bool, query: &DemographicQuery) -> Vec<Factor> {
        let mut factors = Vec::new();
        if has_fingers {
            factors.push(Self::Fingerprint);
        }
        if !query.name.is_empty() {
            factors.push(Self::Name);
        }
        if !query.date_of_birth.is_empty() {
            factors.push(Self::DateOfBirth);
        }
        if !query.gender.is_empty() {
            factors.push(Self::Gender);
        }
        if !query.address.is_empty() {
            factors.push(Self::Address);
        }
        factors
    }

    /// The factor a [`Factor::name`] names.
    pub fn from_name(name: &str) -> Option<Factor> {
        Self::ALL.into_iter().find(|factor| factor.name() == name)
    }

    /// The upper-snake name used in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::Fingerprint => "FINGERPRINT",
            Self::Name => "NAME",
            Self::DateOfBirth => "DATE_OF_BIRTH",
            Self::Gender => "GENDER",
            Self::Address => "ADDRESS",
        }
    }
}

/// Whether one used factor matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FactorResult {
    /// The factor.
    pub factor: Factor,
    /// Whether it matched.
    pub matched: bool,
}

/// A record encryption key the gateway derived from one master key and the resident's
/// identifier. Shards use it for one request and never store it. Zeroed on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct RecordKey {
    /// The master key's id (stored in each record's header, so rotation can overlap).
    pub id: u32,
    /// The derived key.
    pub key: [u8; 32],
}

impl Drop for RecordKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.key);
    }
}

impl std::fmt::Debug for RecordKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RecordKey({}, <redacted>)", self.id)
    }
}

/// The record keys of one request: the current master key's first, then older ones
/// still configured (to read records not yet re-encrypted).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordKeys(pub Vec<RecordKey>);

impl RecordKeys {
    /// The key new records are sealed with.
    pub fn current(&self) -> Option<&RecordKey> {
        self.0.first()
    }

    /// The key with master-key id `id`.
    pub fn by_id(&self, id: u32) -> Option<&RecordKey> {
        self.0.iter().find(|k| k.id == id)
    }
}
