//! Property tests of the record codecs: encode(parse(x)) == x for canonical records,
//! parse(encode(m)) == m for any record the formats can hold, and no panic on any
//! input (at least 100,000 random inputs, some of them mutations of valid records).

use idauth_core::{FingerPosition, ImpressionType, MinutiaKind};
use idauth_match::format::{FingerView, Minutia, MinutiaeRecord, TemplateFormat, encode, parse};
use proptest::prelude::*;

fn format() -> impl Strategy<Value = TemplateFormat> {
    prop_oneof![
        Just(TemplateFormat::Iso19794_2_2005),
        Just(TemplateFormat::Ansi378_2004)
    ]
}

fn minutia(format: TemplateFormat, width: u16, height: u16) -> impl Strategy<Value = Minutia> {
    (0u8..3, 0..width, 0..height, any::<u8>(), 0u8..=100).prop_map(
        move |(kind, x, y, angle, quality)| Minutia {
            kind: MinutiaKind::from_code(kind).unwrap(),
            x,
            y,
            angle: f32::from(angle) * format.angle_unit(),
            quality,
        },
    )
}

fn view(format: TemplateFormat, width: u16, height: u16) -> impl Strategy<Value = FingerView> {
    (
        0u8..=10,
        0u8..16,
        prop_oneof![Just(0u8), Just(1), Just(2), Just(3), Just(8), Just(9)],
        0u8..=100,
        prop::collection::vec(minutia(format, width, height), 0..60),
        prop::collection::vec(any::<u8>(), 0..20),
    )
        .prop_map(
            |(position, view_number, impression, quality, minutiae, extended_data)| FingerView {
                position: FingerPosition::from_code(position).unwrap(),
                view_number,
                impression: ImpressionType::from_code(impression).unwrap(),
                quality,
                minutiae,
                extended_data,
            },
        )
}

fn record() -> impl Strategy<Value = MinutiaeRecord> {
    (
        format(),
        1u16..2000,
        1u16..2000,
        1u16..1000,
        1u16..1000,
        0u8..16,
        0u16..4096,
        any::<(u16, u16)>(),
    )
        .prop_flat_map(|(format, width, height, xr, yr, compliance, id, product)| {
            prop::collection::vec(view(format, width, height), 1..5).prop_map(move |views| {
                MinutiaeRecord {
                    format,
                    product_id: (format == TemplateFormat::Ansi378_2004).then_some(product),
                    equipment_compliance: compliance,
                    equipment_id: id,
                    width,
                    height,
                    x_resolution: xr,
                    y_resolution: yr,
                    views,
                }
            })
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parse_of_encode_is_identity(record in record()) {
        let bytes = encode(&record).unwrap();
        prop_assert_eq!(parse(&bytes).unwrap(), record);
    }

    #[test]
    fn encode_of_parse_is_identity(record in record()) {
        let bytes = encode(&record).unwrap();
        let reparsed = parse(&bytes).unwrap();
        prop_assert_eq!(encode(&reparsed).unwrap(), bytes);
    }

    #[test]
    fn mutated_records_never_panic(record in record(), flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8), cut in any::<prop::sample::Index>()) {
        let mut bytes = encode(&record).unwrap();
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        let end = cut.index(bytes.len() + 1);
        let _ = parse(&bytes[..end]);
    }
}

/// 100,000 inputs of random bytes, half of them behind a valid-looking header so the
/// parser gets past the magic and version checks.
#[test]
fn random_bytes_never_panic() {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let mut accepted = 0;
    for round in 0..100_000u32 {
        let len = (next() % 300) as usize;
        let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if round % 2 == 0 && bytes.len() >= 12 {
            bytes[..8].copy_from_slice(b"FMR\0 20\0");
            if round % 4 == 0 {
                // A plausible ISO length so the views get parsed.
                bytes[8..12].copy_from_slice(&(len as u32).to_be_bytes());
            }
        }
        if parse(&bytes).is_ok() {
            accepted += 1;
        }
    }
    // Random bytes almost never form a record; the count is printed for the curious.
    eprintln!("{accepted} of 100000 random inputs parsed as records");
}
