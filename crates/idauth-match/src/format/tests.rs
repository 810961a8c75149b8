//! Unit tests of the record codecs on hand-made records; the conformance vectors and
//! the property tests live in `tests/`.

use super::*;
use idauth_core::MinutiaKind;

fn sample(format: TemplateFormat) -> MinutiaeRecord {
    MinutiaeRecord {
        format,
        product_id: (format == TemplateFormat::Ansi378_2004).then_some((0x42, 0x11)),
        equipment_compliance: 0,
        equipment_id: 181,
        width: 400,
        height: 500,
        x_resolution: 197,
        y_resolution: 197,
        views: vec![FingerView {
            position: FingerPosition::RightIndex,
            view_number: 0,
            impression: ImpressionType::LivePlain,
            quality: 80,
            minutiae: vec![
                Minutia {
                    kind: MinutiaKind::Ending,
                    x: 10,
                    y: 20,
                    angle: 3.0 * format.angle_unit(),
                    quality: 90,
                },
                Minutia {
                    kind: MinutiaKind::Bifurcation,
                    x: 399,
                    y: 499,
                    angle: 0.0,
                    quality: 0,
                },
            ],
            extended_data: vec![],
        }],
    }
}

#[test]
fn both_formats_round_trip_and_are_told_apart() {
    for format in [
        TemplateFormat::Iso19794_2_2005,
        TemplateFormat::Ansi378_2004,
    ] {
        let record = sample(format);
        let bytes = encode(&record).unwrap();
        assert_eq!(parse(&bytes).unwrap(), record, "{format:?}");
    }
}

#[test]
fn truncation_anywhere_is_an_error_naming_an_offset_never_a_panic() {
    for format in [
        TemplateFormat::Iso19794_2_2005,
        TemplateFormat::Ansi378_2004,
    ] {
        let bytes = encode(&sample(format)).unwrap();
        for cut in 0..bytes.len() {
            let err = parse(&bytes[..cut]).unwrap_err();
            assert_eq!(
                err.code(),
                idauth_core::ErrorCode::MalformedTemplate,
                "{format:?} cut at {cut}: {err}"
            );
        }
    }
}

#[test]
fn padding_after_the_declared_length_is_ignored() {
    let record = sample(TemplateFormat::Iso19794_2_2005);
    let mut bytes = encode(&record).unwrap();
    bytes.extend_from_slice(&[0; 100]);
    assert_eq!(parse(&bytes).unwrap(), record);
}

#[test]
fn field_errors_name_field_and_byte() {
    let mut record = sample(TemplateFormat::Iso19794_2_2005);
    record.views[0].minutiae[0].x = 400;
    let bytes = encode(&record).unwrap();
    let err = parse(&bytes).unwrap_err();
    assert!(
        matches!(
            err,
            MatchError::MinutiaOutsideImage {
                offset: 28,
                x: 400,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("byte 28"), "{err}");

    let mut bytes = encode(&sample(TemplateFormat::Iso19794_2_2005)).unwrap();
    bytes[22] = 0;
    assert_eq!(
        parse(&bytes).unwrap_err(),
        MatchError::ZeroViews { offset: 22 }
    );

    let mut bytes = encode(&sample(TemplateFormat::Iso19794_2_2005)).unwrap();
    bytes[24] = 11;
    assert_eq!(
        parse(&bytes).unwrap_err(),
        MatchError::InvalidField {
            field: "finger position",
            value: 11,
            offset: 24
        }
    );

    let mut bytes = encode(&sample(TemplateFormat::Iso19794_2_2005)).unwrap();
    bytes[4..8].copy_from_slice(b"030\0");
    assert!(matches!(
        parse(&bytes).unwrap_err(),
        MatchError::UnsupportedVersion { .. }
    ));
}

#[test]
fn ansi_reserved_angle_codes_are_kept_as_written() {
    let mut bytes = encode(&sample(TemplateFormat::Ansi378_2004)).unwrap();
    // First minutia starts after the 26-byte header and the 4-byte view header.
    bytes[30 + 4] = 213;
    let record = parse(&bytes).unwrap();
    assert!(
        (record.views[0].minutiae[0].angle - 213.0 * std::f32::consts::TAU / 180.0).abs() < 1e-5
    );
    assert_eq!(encode(&record).unwrap(), bytes);
}

#[test]
fn limits_on_views_and_minutiae_are_enforced() {
    let mut record = sample(TemplateFormat::Iso19794_2_2005);
    record.views = vec![record.views[0].clone(); 3];
    let bytes = encode(&record).unwrap();
    let limits = ParseLimits {
        max_views: 2,
        max_minutiae_per_view: 200,
    };
    assert_eq!(
        parse_with_limits(&bytes, &limits).unwrap_err(),
        MatchError::TooManyViews {
            count: 3,
            max: 2,
            offset: 22
        }
    );
    let limits = ParseLimits {
        max_views: 20,
        max_minutiae_per_view: 1,
    };
    assert!(matches!(
        parse_with_limits(&bytes, &limits).unwrap_err(),
        MatchError::TooManyMinutiae {
            count: 2,
            max: 1,
            ..
        }
    ));
}

#[test]
fn ansi_long_length_form_is_written_and_read() {
    let mut record = sample(TemplateFormat::Ansi378_2004);
    record.views[0].extended_data = vec![7; 65_000];
    record.views.push(record.views[0].clone());
    let bytes = encode(&record).unwrap();
    assert_eq!(&bytes[8..10], &[0, 0]);
    assert_eq!(parse(&bytes).unwrap(), record);
}
