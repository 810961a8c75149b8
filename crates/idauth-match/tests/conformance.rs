//! Every file in `shared/data/conformance`: decoded fields against the JSON vectors,
//! rejection (with the right error) of truncated and unsupported records, and a clean
//! parse of the NIST, SourceAFIS and SecuGen records.

mod support;

use std::path::Path;

use idauth_core::ErrorCode;
use idauth_match::format::{MinutiaeRecord, TemplateFormat, parse};
use idauth_match::{MatchError, encode};
use serde_json::Value;

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn assert_matches_json(record: &MinutiaeRecord, json: &Value, file: &str) {
    let int = |v: &Value| {
        v.as_u64()
            .unwrap_or_else(|| panic!("{file}: not an integer: {v}"))
    };
    assert_eq!(
        u64::from(record.width),
        int(&json["width"]),
        "{file}: width"
    );
    assert_eq!(
        u64::from(record.height),
        int(&json["height"]),
        "{file}: height"
    );
    assert_eq!(
        u64::from(record.x_resolution),
        int(&json["resolutionX"]),
        "{file}: x resolution"
    );
    assert_eq!(
        u64::from(record.y_resolution),
        int(&json["resolutionY"]),
        "{file}: y resolution"
    );
    assert_eq!(
        u64::from(record.equipment_id),
        int(&json["sensorId"]),
        "{file}: sensor id"
    );
    if let Some(vendor) = json.get("vendorId") {
        assert_eq!(
            record.product_id.map(|p| u64::from(p.0)),
            Some(int(vendor)),
            "{file}: product owner"
        );
        assert_eq!(
            record.product_id.map(|p| u64::from(p.1)),
            Some(int(&json["subformat"])),
            "{file}: product type"
        );
    }
    let fingers = json["fingerprints"].as_array().expect("fingerprints array");
    assert_eq!(record.views.len(), fingers.len(), "{file}: view count");
    for (index, (view, expected)) in record.views.iter().zip(fingers).enumerate() {
        let at = format!("{file} view {index}");
        assert_eq!(
            view.position.name(),
            expected["position"].as_str().unwrap(),
            "{at}: position"
        );
        assert_eq!(
            u64::from(view.view_number),
            int(&expected["view"]),
            "{at}: view number"
        );
        assert_eq!(
            view.impression.name(),
            expected["scanType"].as_str().unwrap(),
            "{at}: impression"
        );
        assert_eq!(
            u64::from(view.quality),
            int(&expected["quality"]),
            "{at}: quality"
        );
        let minutiae = expected["minutiae"].as_array().unwrap();
        assert_eq!(view.minutiae.len(), minutiae.len(), "{at}: minutiae count");
        for (m, (got, want)) in view.minutiae.iter().zip(minutiae).enumerate() {
            let at = format!("{at} minutia {m}");
            assert_eq!(
                got.kind.name(),
                want["type"].as_str().unwrap(),
                "{at}: type"
            );
            assert_eq!(u64::from(got.x), int(&want["positionX"]), "{at}: x");
            assert_eq!(u64::from(got.y), int(&want["positionY"]), "{at}: y");
            // The vectors give angles in the format's own units.
            let units = (got.angle / record.format.angle_unit()).round() as u64;
            assert_eq!(units, int(&want["angle"]), "{at}: angle");
            assert_eq!(
                u64::from(got.quality),
                int(&want["quality"]),
                "{at}: quality"
            );
        }
        // Extension blocks are kept opaque; each one the vector lists must be inside.
        for extension in expected["extensions"].as_array().into_iter().flatten() {
            let data = decode_base64(extension["data"].as_str().unwrap());
            assert!(
                view.extended_data.windows(data.len()).any(|w| w == data),
                "{at}: extension data kept"
            );
        }
    }
}

fn decode_base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("bad base64"),
    };
    let digits: Vec<u8> = text.bytes().filter(|&c| c != b'=').map(value).collect();
    digits
        .chunks(4)
        .flat_map(|chunk| {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |acc, (i, &d)| acc | (u32::from(d) << (18 - 6 * i)));
            let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
            bytes.into_iter().take(chunk.len() - 1)
        })
        .collect()
}

#[test]
fn fingerprintio_vectors_decode_to_their_json() {
    let Some(dir) = support::shared_data("conformance/fingerprintio") else {
        return;
    };
    for (name, format) in [
        ("iso19794p2v2005", TemplateFormat::Iso19794_2_2005),
        ("ansi378v2004", TemplateFormat::Ansi378_2004),
    ] {
        let bytes = read(&dir.join(format!("{name}-sample.dat")));
        let json: Value =
            serde_json::from_slice(&read(&dir.join(format!("{name}-sample.json")))).unwrap();
        let record = parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(record.format, format, "{name}");
        assert_matches_json(&record, &json, name);
        // Written back and read again, nothing changes.
        assert_eq!(
            parse(&encode(&record).unwrap()).unwrap(),
            record,
            "{name} re-encoded"
        );
    }
}

#[test]
fn newer_versions_are_refused_as_unsupported() {
    let Some(dir) = support::shared_data("conformance") else {
        return;
    };
    for file in [
        "fingerprintio/iso19794p2v2011-sample.dat",
        "fingerprintio/ansi378v2009-sample.dat",
        "fingerprintio/ansi378v2009am1-sample.dat",
        "libbiomeval/fmr.ansi2007",
    ] {
        let bytes = read(&dir.join(file));
        let err = parse(&bytes).unwrap_err();
        assert!(
            matches!(err, MatchError::UnsupportedVersion { .. }),
            "{file}: {err}"
        );
        assert_eq!(err.code(), ErrorCode::UnsupportedTemplateFormat, "{file}");
        let version = String::from_utf8_lossy(&bytes[4..7]).into_owned();
        assert!(
            err.to_string().contains(&version),
            "{file}: message names version {version}: {err}"
        );
    }
}

#[test]
fn truncated_records_are_rejected_with_length_and_offset() {
    let Some(dir) = support::shared_data("conformance/invalid") else {
        return;
    };
    for (file, available) in [
        ("101_1_truncate_1_byte.iso", 29),
        ("101_1_truncate_2_bytes.iso", 28),
        ("101_1_truncate_3_bytes.iso", 27),
    ] {
        let err = parse(&read(&dir.join(file))).unwrap_err();
        assert_eq!(
            err,
            MatchError::DeclaredLengthExceedsBuffer {
                field_offset: 8,
                declared: 30,
                available
            },
            "{file}"
        );
        assert_eq!(err.code(), ErrorCode::MalformedTemplate);
        let message = err.to_string();
        assert!(
            message.contains("truncated") && message.contains("byte 8") && message.contains("30"),
            "{message}"
        );
    }
}

#[test]
fn nist_records_decode_with_all_views() {
    let Some(dir) = support::shared_data("conformance/libbiomeval") else {
        return;
    };
    let iso = parse(&read(&dir.join("fmr.iso2005"))).unwrap();
    assert_eq!(iso.format, TemplateFormat::Iso19794_2_2005);
    assert_eq!(
        iso.views
            .iter()
            .map(|v| v.minutiae.len())
            .collect::<Vec<_>>(),
        vec![27, 22]
    );
    assert!(
        !iso.views[1].extended_data.is_empty(),
        "ridge-count / core-delta data kept"
    );
    let ansi = parse(&read(&dir.join("fmr.ansi2004"))).unwrap();
    assert_eq!(ansi.format, TemplateFormat::Ansi378_2004);
    assert_eq!(ansi.product_id, Some((0x42, 0x11)));
    assert_eq!(
        ansi.views
            .iter()
            .map(|v| v.minutiae.len())
            .collect::<Vec<_>>(),
        vec![27, 22, 28]
    );
}

#[test]
fn sourceafis_padded_records_decode_and_mate_matches_better() {
    let Some(dir) = support::shared_data("conformance/sourceafis") else {
        return;
    };
    let record =
        |name: &str| parse(&read(&dir.join(name))).unwrap_or_else(|e| panic!("{name}: {e}"));
    let (probe, mate, other) = (
        record("iso-probe.dat"),
        record("iso-matching.dat"),
        record("iso-nonmatching.dat"),
    );
    assert_eq!(probe.views[0].minutiae.len(), 38);
    let params = idauth_match::MccParams::default();
    let template = |r: &MinutiaeRecord| idauth_match::FingerTemplate::new(&r.fingers()[0], &params);
    let mut matcher = idauth_match::Matcher::new(params.clone());
    let genuine = matcher.compare(&template(&probe), &template(&mate));
    let impostor = matcher.compare(&template(&probe), &template(&other));
    assert!(
        genuine > impostor,
        "genuine {genuine} vs impostor {impostor}"
    );
}

#[test]
fn every_secugen_and_mindtct_record_decodes() {
    for corpus in ["conformance/secugen-fvc2002", "fvc2002-mindtct"] {
        let Some(dir) = support::shared_data(corpus) else {
            continue;
        };
        let mut count = 0;
        for set in std::fs::read_dir(&dir).unwrap() {
            let set = set.unwrap().path();
            if !set.is_dir() {
                continue;
            }
            for file in std::fs::read_dir(&set).unwrap() {
                let file = file.unwrap().path();
                if file.extension().is_some_and(|e| e == "iso") {
                    let record =
                        parse(&read(&file)).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
                    assert_eq!(record.views.len(), 1, "{}", file.display());
                    count += 1;
                }
            }
        }
        assert_eq!(count, 320, "{corpus}: record count");
    }
}
