//! One shard's operations on its own records.

use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::Arc;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use idauth_core::command::{
    HistoryEntry, HistoryPage, HistoryQuery, ShardReport, VerifyOutcome, VerifyRequest,
    WriteCommand, WriteOutcome, WriteRequest,
};
use idauth_core::{
    CheckedFingers, ErrorCode, Factor, FactorResult, FingerPosition, FingerUse, StorageKey,
};
use idauth_match::fusion::compare_fingers;
use idauth_match::sample::template_of;
use idauth_match::{FingerTemplate, Matcher, MccParams};
use idauth_store::{
    AuditEntry, AuditRecord, Change, Engine, EngineOptions, EnrolledFinger, HotCache,
    ResidentRecord, ResidentStatus, ShardStore, Store, StoreOptions, Write,
};

use crate::demographic::match_demographics;
use crate::error::ShardError;
use crate::lockout::{Failures, LockoutPolicy};
use crate::reference::References;
use crate::threshold::Threshold;
use idauth_core::metrics::{Metrics, Stage};

mod permits;
mod templates;

pub use permits::CpuPermits;
pub(crate) use permits::Waiting;

/// How a shard is opened.
#[derive(Debug, Clone)]
pub struct ShardOptions {
    /// The shard's id (routing and reference codes).
    pub shard_id: String,
    /// Where its store lives.
    pub storage: ShardStorage,
    /// Decoded records kept in memory.
    pub cache_records: usize,
    /// Built enrolled templates kept in memory (about 9 KB each).
    pub cache_templates: usize,
    /// The decision threshold.
    pub threshold: Threshold,
    /// Matcher parameters.
    pub params: MccParams,
    /// Permits for CPU-heavy tasks (template building, matching); shards of one
    /// process share one set, sized to its cores.
    pub cpu: CpuPermits,
    /// Failed-attempt limit.
    pub lockout: LockoutPolicy,
}

/// Where a shard keeps its store.
#[derive(Debug, Clone)]
pub enum ShardStorage {
    /// An engine of its own in this directory (a shard process).
    Own {
        /// The directory.
        dir: PathBuf,
        /// How the engine is opened.
        engine: EngineOptions,
    },
    /// Trees named after the shard id on an engine shared with the other shards of
    /// the process (`idauth serve`), so that one fsync serves them all.
    Shared(Arc<Engine>),
    /// A store already opened (the RADOS engine, or a test's wrapper).
    Opened(Arc<dyn ShardStore>),
}

/// The most history entries one page holds.
pub const MAX_HISTORY_PAGE: u32 = 100;

/// Template cache key: one entry per enrolled finger, so that a record's new version
/// replaces its old templates instead of adding to them (keyed by version too, every
/// lock, unlock or update left the old versions' templates, about 9 KB each, in the
/// cache until it filled: the soak's memory growth).
type TemplateKey = (StorageKey, FingerPosition);

/// A cached template and the record version it was built from; a template is used
/// only for that version, so a stale one is never matched after an update.
type CachedTemplate = (u64, Arc<FingerTemplate>);

/// A template built during a write, cached once the write is durable.
type BuiltTemplate = (TemplateKey, CachedTemplate);

/// A verify's decision, and what its fingers did (for the lockout count, applied by
/// the caller once the txn is known to be new).
pub(crate) struct Decided {
    outcome: VerifyOutcome,
    fingers: Option<bool>,
}

/// A write with its CPU work done, ready for the store.
struct Prepared {
    context: idauth_core::command::WriteContext,
    key: StorageKey,
    keys: idauth_core::RecordKeys,
    change: Change,
    built: Vec<(FingerPosition, FingerTemplate)>,
}

/// One shard.
#[derive(Debug)]
pub struct Shard {
    id: String,
    store: Arc<dyn ShardStore>,
    params: MccParams,
    threshold: Threshold,
    templates: HotCache<TemplateKey, CachedTemplate>,
    cpu: CpuPermits,
    references: References,
    failures: Failures,
    metrics: Metrics,
}

thread_local! {
    /// Each worker thread keeps its own matcher and scratch buffers.
    static MATCHER: RefCell<Option<Matcher>> = const { RefCell::new(None) };
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

impl Shard {
    /// Opens the shard's store.
    pub fn open(options: ShardOptions) -> Result<Self, ShardError> {
        let store_options = |engine| StoreOptions {
            engine,
            cache_records: options.cache_records,
            ..StoreOptions::default()
        };
        let store: Arc<dyn ShardStore> = match &options.storage {
            ShardStorage::Own { dir, engine } => {
                Arc::new(Store::open(dir, store_options(*engine))?)
            }
            ShardStorage::Shared(engine) => Arc::new(Store::open_in(
                Arc::clone(engine),
                &format!("{}/", options.shard_id),
                store_options(EngineOptions::default()),
            )?),
            ShardStorage::Opened(store) => Arc::clone(store),
        };
        tracing::info!(
            shard = %options.shard_id,
            engine = store.engine(),
            residents = store.residents(),
            threshold = options.threshold.score,
            target_fmr = options.threshold.target_fmr,
            "shard opened"
        );
        Ok(Self {
            references: References::new(&options.shard_id).map_err(ShardError::Randomness)?,
            id: options.shard_id,
            store,
            params: options.params,
            threshold: options.threshold,
            templates: HotCache::new(options.cache_templates),
            cpu: options.cpu,
            failures: Failures::new(options.lockout),
            metrics: Metrics::default(),
        })
    }

    /// The shard id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The decision threshold.
    pub fn threshold(&self) -> &Threshold {
        &self.threshold
    }

    /// Runs CPU-heavy work on the blocking pool, once a CPU permit is free. With a
    /// `deadline`, work that could not finish by it is refused at once (OVERLOADED),
    /// and work whose deadline passed while it queued is dropped before it runs.
    async fn on_cpu<T: Send + 'static>(
        self: &Arc<Self>,
        deadline: Option<Instant>,
        work: impl FnOnce(&Shard) -> T + Send + 'static,
    ) -> Result<T, ShardError> {
        self.on_cpu_after(deadline, async { Ok(()) }, work).await
    }

    /// [`Shard::on_cpu`], with `gate` started once the work is admitted (a permit held,
    /// its deadline not passed) and awaited while the work runs: the work's answer is
    /// returned only if the gate passes, so the work must change nothing itself. A
    /// verify's replay check is its gate: a verify shed as OVERLOADED or late has not
    /// used up its txn and can be retried as the hint says, and the check's round trip
    /// to the store (a replicated write on RADOS) overlaps the matching instead of
    /// holding a worker.
    async fn on_cpu_after<T: Send + 'static>(
        self: &Arc<Self>,
        deadline: Option<Instant>,
        gate: impl Future<Output = Result<(), ShardError>>,
        work: impl FnOnce(&Shard) -> T + Send + 'static,
    ) -> Result<T, ShardError> {
        let queued = Instant::now();
        if deadline.is_some_and(|deadline| self.cpu.cannot_finish(queued, deadline)) {
            return Err(ShardError::Overloaded);
        }
        let waiting = Waiting::new(&self.cpu, &self.metrics);
        let permit = Arc::clone(&self.cpu.0.semaphore).acquire_owned().await;
        drop(waiting);
        let permit = permit.map_err(|_| ShardError::Worker("shard is closing".into()))?;
        self.metrics.stage_took(Stage::Queue, queued.elapsed());
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            return Err(ShardError::Late);
        }
        let shard = Arc::clone(self);
        let span = tracing::Span::current();
        // The permit goes with the work: a caller that stops waiting (its deadline,
        // a dropped connection) must not free a worker that is still busy.
        let running = tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let answer = span.in_scope(|| work(&shard));
            shard.cpu.task_took(started.elapsed());
            drop(permit);
            answer
        });
        let passed = gate.await;
        let answer = running
            .await
            .map_err(|error| ShardError::Worker(error.to_string()))?;
        passed.map(|()| answer)
    }

    /// Applies a write and acknowledges it once durable.
    #[tracing::instrument(skip_all, fields(shard = %self.id, op = request.command.operation()))]
    pub async fn write(
        self: &Arc<Self>,
        request: WriteRequest,
    ) -> Result<WriteOutcome, ShardError> {
        let audit = AuditRecord {
            time_ms: now_ms(),
            caller: request.context.caller_id.clone(),
            token: request.context.token.clone(),
            operation: request.command.operation().to_owned(),
            subject: Some(request.key),
            ..AuditRecord::default()
        };
        let operation = request.command.operation();
        let result = match self.on_cpu(None, move |shard| shard.prepare(request)).await {
            Ok(Ok(prepared)) => self.apply(prepared).await,
            Ok(Err(error)) | Err(error) => Err(error),
        };
        let (applied, templates) = match result {
            Ok(done) => done,
            Err(error) => {
                self.metrics.outcome(operation, error.code().number());
                if !error.shed() {
                    self.audit_failure(audit, &error).await;
                }
                return Err(error);
            }
        };
        self.metrics.outcome(operation, 0);
        if !applied.replayed {
            self.store
                .audit(AuditRecord {
                    reference: applied.outcome.reference.clone(),
                    ..audit
                })
                .await?;
        }
        // Templates enter the cache only once their record is durable.
        for (key, template) in templates {
            self.templates.insert(key, template);
        }
        Ok(applied.outcome)
    }

    /// The CPU side of a write: the change, with its fingers' templates built.
    fn prepare(&self, request: WriteRequest) -> Result<Prepared, ShardError> {
        let WriteRequest {
            context,
            key,
            keys,
            command,
        } = request;
        let mut built = Vec::new();
        let change = match command {
            WriteCommand::Enrol {
                fingers,
                demographics,
            } => Change::Enrol {
                fingers: self.enrolled_fingers(&fingers, &mut built)?,
                demographics,
            },
            WriteCommand::UpdateBiometrics { fingers } => {
                Change::ReplaceFingers(self.enrolled_fingers(&fingers, &mut built)?)
            }
            WriteCommand::UpdateDemographics { demographics } => {
                Change::ReplaceDemographics(demographics)
            }
            WriteCommand::Deactivate => Change::Deactivate,
            WriteCommand::LockBiometrics => Change::SetLock {
                locked: true,
                unlocked_until_ms: None,
            },
            WriteCommand::UnlockBiometrics { until_ms } => Change::SetLock {
                locked: false,
                unlocked_until_ms: until_ms,
            },
        };
        Ok(Prepared {
            context,
            key,
            keys,
            change,
            built,
        })
    }

    /// The storage side of a write: applied (not yet durable), with the templates to
    /// cache once it is.
    async fn apply(
        &self,
        prepared: Prepared,
    ) -> Result<(idauth_store::Applied, Vec<BuiltTemplate>), ShardError> {
        let Prepared {
            context,
            key,
            keys,
            change,
            built,
        } = prepared;
        let reference = self.references.next();
        let applied = self
            .store
            .apply(Write {
                context: &context,
                key,
                keys: &keys,
                change: &change,
                reference: &reference,
                now_ms: now_ms(),
            })
            .await?;
        let version = applied.outcome.version;
        let templates = built
            .into_iter()
            .map(|(position, template)| ((key, position), (version, Arc::new(template))))
            .collect();
        Ok((applied, templates))
    }

    /// Builds each finger's template (refusing unusable ones) and the stored form.
    /// The set was checked for enrolment at the gateway: at least one finger, each at
    /// a known position.
    fn enrolled_fingers(
        &self,
        fingers: &CheckedFingers,
        built: &mut Vec<(FingerPosition, FingerTemplate)>,
    ) -> Result<Vec<EnrolledFinger>, ShardError> {
        debug_assert_eq!(fingers.usage(), FingerUse::Enrolment);
        let mut enrolled = Vec::with_capacity(fingers.len());
        for finger in fingers {
            let template = template_of(finger, &self.params)?;
            let sample = finger.sample();
            enrolled.push(EnrolledFinger {
                position: sample.position,
                format: sample.format,
                template: sample.template.clone(),
                minutiae_used: template.minutiae_used().min(usize::from(u16::MAX)) as u16,
            });
            built.push((sample.position, template));
        }
        Ok(enrolled)
    }

    /// Decides whether the probe matches the record under the request's key.
    #[tracing::instrument(skip_all, fields(shard = %self.id, fingers = request.fingers.len()))]
    pub async fn verify(
        self: &Arc<Self>,
        request: VerifyRequest,
        deadline: Option<Instant>,
    ) -> Result<VerifyOutcome, ShardError> {
        let audit = AuditRecord {
            time_ms: now_ms(),
            caller: request.caller_id.clone(),
            token: request.token.clone(),
            operation: "verify".into(),
            subject: Some(request.key),
            ..AuditRecord::default()
        };
        let started = Instant::now();
        let outcome = match self.decide_admitted(request, deadline).await {
            Ok(outcome) => outcome,
            Err(error) if error.shed() => {
                self.metrics.outcome("verify", error.code().number());
                return Err(error);
            }
            Err(error) => {
                self.metrics.outcome("verify", error.code().number());
                self.audit_failure(audit, &error).await;
                return Err(error);
            }
        };
        let auditing = Instant::now();
        // The decision is answered only once its audit entry is on disk.
        self.store
            .audit(AuditRecord {
                factors: outcome
                    .factors
                    .iter()
                    .map(|f| (f.factor.name().to_owned(), f.matched))
                    .collect(),
                decision: Some(outcome.matched),
                error_code: outcome.error.map(|code| code.number()),
                reference: outcome.reference.clone(),
                ..audit
            })
            .await?;
        self.metrics.stage_took(Stage::Audit, auditing.elapsed());
        self.metrics.verify_took(started.elapsed());
        self.metrics
            .outcome("verify", outcome.error.map_or(0, |code| code.number()));
        Ok(outcome)
    }

    /// A page of a resident's history, newest first. Reading it is audited too (after
    /// the read, so it shows on the next page asked for, not on this one).
    #[tracing::instrument(skip_all, fields(shard = %self.id))]
    pub async fn history(self: &Arc<Self>, query: HistoryQuery) -> Result<HistoryPage, ShardError> {
        let audit = AuditRecord {
            time_ms: now_ms(),
            caller: query.caller_id.clone(),
            token: query.token.clone(),
            operation: "history".into(),
            subject: Some(query.key),
            ..AuditRecord::default()
        };
        let (key, before, only_token) = (query.key, query.before, query.only_token);
        let limit = query.limit.clamp(1, MAX_HISTORY_PAGE) as usize;
        let read = async {
            if !self.store.contains(&key).await? {
                return Err(ShardError::Refused(ErrorCode::ResidentUnknown));
            }
            Ok(self
                .store
                .history(&key, before, only_token.as_deref(), limit)
                .await?)
        };
        let (entries, next_before) = match read.await {
            Ok(page) => page,
            Err(error) => {
                self.audit_failure(audit, &error).await;
                return Err(error);
            }
        };
        self.store
            .audit(AuditRecord {
                reference: self.references.next(),
                ..audit
            })
            .await?;
        Ok(HistoryPage {
            entries: entries.into_iter().map(history_entry).collect(),
            next_before,
        })
    }

    /// Records a refused operation in the audit log (best effort: the refusal is
    /// answered even if the log cannot be written, and the failure is logged).
    async fn audit_failure(&self, audit: AuditRecord, error: &ShardError) {
        let record = AuditRecord {
            error_code: Some(error.code().number()),
            ..audit
        };
        if let Err(failure) = self.store.audit(record).await {
            tracing::error!(shard = %self.id, error = %failure, "audit entry for a refusal not written");
        }
    }

    /// A verify past admission: the record read, then (a worker free and the txn
    /// not seen before) the decision.
    async fn decide_admitted(
        self: &Arc<Self>,
        request: VerifyRequest,
        deadline: Option<Instant>,
    ) -> Result<VerifyOutcome, ShardError> {
        if deadline.is_some_and(|deadline| self.cpu.cannot_finish(Instant::now(), deadline)) {
            return Err(ShardError::Overloaded);
        }
        let fetching = Instant::now();
        let record = self.store.get(&request.key, &request.keys).await?;
        let fetched = fetching.elapsed();
        let (caller, txn) = (request.caller_id.clone(), request.txn.clone());
        let timestamp_ms = request.timestamp_ms;
        let replay_check = async {
            let fresh = self
                .store
                .record_txn(&caller, txn.as_str(), timestamp_ms, now_ms())
                .await?;
            if fresh {
                Ok(())
            } else {
                Err(ShardError::Refused(ErrorCode::DuplicateTxn))
            }
        };
        let key = request.key;
        let Decided { outcome, fingers } = self
            .on_cpu_after(deadline, replay_check, move |shard| {
                shard.decide(&request, record, fetched)
            })
            .await
            .and_then(|inner| inner)?;
        // The txn was new: only now may the attempt count towards a lockout.
        match fingers {
            Some(true) => self.failures.clear(&key),
            Some(false) => self.failures.fail(&key, now_ms()),
            None => {}
        }
        Ok(outcome)
    }

    /// The decision table of a verify whose txn is new: resident status, lock and
    /// lockout, enrolled positions, fingers against the threshold, then demographics.
    /// Changes nothing: the caller applies the fingers' result to the lockout count
    /// once the txn is known to be new.
    pub(crate) fn decide(
        &self,
        request: &VerifyRequest,
        record: Option<ResidentRecord>,
        fetched: Duration,
    ) -> Result<Decided, ShardError> {
        let reference = self.references.next();
        let refused = |code| Decided {
            outcome: VerifyOutcome {
                matched: false,
                reference: reference.clone(),
                factors: Vec::new(),
                error: Some(code),
            },
            fingers: None,
        };
        let mut fingers_matched = None;
        let Some(record) = record else {
            return Ok(refused(ErrorCode::ResidentUnknown));
        };
        let mut fetch_time = fetched;
        if record.status == ResidentStatus::Deactivated {
            return Ok(refused(ErrorCode::ResidentDeactivated));
        }
        let mut factors = Vec::new();
        if !request.fingers.is_empty() {
            let now = now_ms();
            if record.biometrics_locked_at(now) {
                return Ok(refused(ErrorCode::BiometricsLocked));
            }
            if self.failures.locked_out(&request.key, now) {
                return Ok(refused(ErrorCode::TemporarilyLockedOut));
            }
            let parsing = Instant::now();
            let probe = request
                .fingers
                .as_slice()
                .iter()
                .map(|finger| template_of(finger, &self.params))
                .collect::<Result<Vec<_>, _>>()?;
            self.metrics.stage_took(Stage::Parse, parsing.elapsed());
            let missing = probe.iter().any(|finger| {
                finger.position() != FingerPosition::Unknown
                    && record.finger(finger.position()).is_none()
            });
            if missing {
                return Ok(refused(ErrorCode::FingerNotEnrolled));
            }
            let fetching = Instant::now();
            let enrolled = self.enrolled_templates(&request.key, &record, &probe)?;
            fetch_time += fetching.elapsed();
            let matching = Instant::now();
            let fused = MATCHER.with(|cell| {
                let mut cell = cell.borrow_mut();
                let matcher = cell.get_or_insert_with(|| Matcher::new(self.params.clone()));
                compare_fingers(matcher, &probe, &enrolled).fused
            });
            self.metrics.stage_took(Stage::Match, matching.elapsed());
            let matched = fused >= self.threshold.score;
            fingers_matched = Some(matched);
            factors.push(FactorResult {
                factor: Factor::Fingerprint,
                matched,
            });
        }
        self.metrics.stage_took(Stage::Fetch, fetch_time);
        factors.extend(match_demographics(
            &request.demographics,
            &record.demographics,
        ));
        if factors.is_empty() {
            return Err(ShardError::Refused(ErrorCode::NoFingers));
        }
        let error = factors.iter().find(|f| !f.matched).map(|f| match f.factor {
            Factor::Fingerprint => ErrorCode::BiometricMismatch,
            Factor::Name | Factor::DateOfBirth | Factor::Gender | Factor::Address => {
                ErrorCode::DemographicMismatch
            }
        });
        Ok(Decided {
            outcome: VerifyOutcome {
                matched: error.is_none(),
                reference,
                factors,
                error,
            },
            fingers: fingers_matched,
        })
    }

    /// The shard's state for operators.
    pub fn report(&self) -> ShardReport {
        ShardReport {
            shard_id: self.id.clone(),
            residents: self.store.residents(),
            store_bytes: self.store.size_bytes(),
            kernel: idauth_match::Kernel::active().name().to_owned(),
            threshold: f64::from(self.threshold.score),
            cache_entries: self.templates.len() as u64,
            rss_bytes: process_rss_bytes(),
            metrics: self.metrics.snapshot(),
        }
    }
}

fn history_entry(entry: AuditEntry) -> HistoryEntry {
    let AuditEntry {
        seq,
        time_ms,
        caller,
        token,
        operation,
        factors,
        decision,
        error_code,
        reference,
        prev_hash: _,
    } = entry;
    HistoryEntry {
        seq,
        time_ms,
        caller_id: caller,
        token,
        operation,
        factors: factors
            .iter()
            .filter_map(|(name, matched)| {
                Factor::from_name(name).map(|factor| FactorResult {
                    factor,
                    matched: *matched,
                })
            })
            .collect(),
        decision,
        // A number this build no longer knows still marks a failure.
        error: error_code
            .map(|number| ErrorCode::from_number(number).unwrap_or(ErrorCode::Internal)),
        reference,
    }
}

/// The resident set size of this process, bytes (from /proc; 0 where there is none).
pub fn process_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib * 1024)
        })
        .unwrap_or(0)
}
