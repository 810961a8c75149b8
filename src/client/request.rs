//! Building request messages from command-line arguments.

use std::path::Path;

use anyhow::Context;
use idauth_core::{IdentifierType, NameMatch};
use idauth_match::format::parse;
use idauth_proto::v1;

use crate::cli::{DemographicArgs, IdTypeArg, ResidentArgs};

pub(crate) fn identifier(args: &ResidentArgs) -> anyhow::Result<v1::Identifier> {
    identifier_of(&args.id, args.id_type)
}

pub(crate) fn identifier_of(value: &str, id_type: IdTypeArg) -> anyhow::Result<v1::Identifier> {
    let kind = match id_type {
        IdTypeArg::National => IdentifierType::NationalId,
        IdTypeArg::Virtual => IdentifierType::VirtualId,
    };
    // The service validates the value; the client only wraps it.
    let id = idauth_core::ResidentId::new(kind, value)
        .context("--id must be 1 to 64 letters, digits or '-'")?;
    Ok(idauth_proto::convert::resident_id_to_wire(&id))
}

/// The wire format tag for a record, read from its bytes (ISO when it does not parse,
/// so that the service answers with the precise decoding error).
pub(crate) fn format_of(bytes: &[u8]) -> v1::TemplateFormat {
    match parse(bytes).map(|record| record.format) {
        Ok(idauth_core::TemplateFormat::Ansi378_2004) => v1::TemplateFormat::Ansi3782004,
        _ => v1::TemplateFormat::Iso1979422005,
    }
}

pub(crate) fn finger(position: u32, path: &Path) -> anyhow::Result<v1::Finger> {
    let template = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(v1::Finger {
        position,
        format: format_of(&template).into(),
        template,
    })
}

pub(crate) fn fingers(specs: &[String]) -> anyhow::Result<Vec<v1::Finger>> {
    specs
        .iter()
        .map(|spec| {
            let (position, path) = spec
                .split_once('=')
                .with_context(|| format!("--finger {spec:?}: expected POSITION=FILE"))?;
            let position: u32 = position
                .parse()
                .with_context(|| format!("--finger {spec:?}: position must be a number 0..10"))?;
            finger(position, Path::new(path))
        })
        .collect()
}

fn address(args: &DemographicArgs) -> v1::Address {
    v1::Address {
        line: args.address_line.clone().unwrap_or_default(),
        locality: args.locality.clone().unwrap_or_default(),
        district: args.district.clone().unwrap_or_default(),
        state: args.state.clone().unwrap_or_default(),
        postal_code: args.postal_code.clone().unwrap_or_default(),
    }
}

pub(crate) fn demographics(args: &DemographicArgs) -> v1::Demographics {
    v1::Demographics {
        name: args.name.clone().unwrap_or_default(),
        date_of_birth: args.dob.clone().unwrap_or_default(),
        gender: args.gender.clone().unwrap_or_default(),
        address: Some(address(args)),
    }
}

pub(crate) fn query(args: &DemographicArgs, name_match: NameMatch) -> v1::DemographicQuery {
    let name_match = match name_match {
        NameMatch::Exact => v1::NameMatch::Exact,
        NameMatch::Partial => v1::NameMatch::Partial,
    };
    v1::DemographicQuery {
        name: args.name.clone().unwrap_or_default(),
        name_match: name_match.into(),
        date_of_birth: args.dob.clone().unwrap_or_default(),
        gender: args.gender.clone().unwrap_or_default(),
        address: Some(address(args)),
    }
}
