//! The shard's cache of built enrolled templates: one entry per enrolled finger,
//! holding the record version it was built from.

use std::sync::Arc;

use idauth_core::{FingerPosition, FingerSample, StorageKey};
use idauth_match::FingerTemplate;
use idauth_match::sample::decode_sample;
use idauth_store::{EnrolledFinger, ResidentRecord};

use super::Shard;
use crate::error::ShardError;

impl Shard {
    /// The enrolled templates a probe needs: the fingers at its positions, or all of
    /// them when a probe finger's position is unknown.
    pub(super) fn enrolled_templates(
        &self,
        key: &StorageKey,
        record: &ResidentRecord,
        probe: &[FingerTemplate],
    ) -> Result<Vec<Arc<FingerTemplate>>, ShardError> {
        let wanted: Vec<&EnrolledFinger> = if probe
            .iter()
            .any(|finger| finger.position() == FingerPosition::Unknown)
        {
            record.fingers.iter().collect()
        } else {
            probe
                .iter()
                .filter_map(|finger| record.finger(finger.position()))
                .collect()
        };
        wanted
            .into_iter()
            .map(|finger| {
                let cache_key = (*key, finger.position);
                if let Some((version, template)) = self.templates.get(&cache_key)
                    && version == record.version
                {
                    self.metrics.template_lookup(true);
                    return Ok(template);
                }
                self.metrics.template_lookup(false);
                let sample = FingerSample {
                    position: finger.position,
                    format: finger.format,
                    template: finger.template.clone(),
                };
                let minutiae = decode_sample(&sample).map_err(ShardError::DamagedRecord)?;
                let template = Arc::new(FingerTemplate::new(&minutiae, &self.params));
                self.templates
                    .insert(cache_key, (record.version, Arc::clone(&template)));
                Ok(template)
            })
            .collect()
    }
}
