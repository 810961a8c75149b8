//! Demographic matching: which of the queried attributes equal the enrolled ones.

use idauth_core::{DemographicQuery, Demographics, Factor, FactorResult, NameMatch};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Case-folded, diacritic-free, single-spaced form of a string ("  José  DA Silva" ->
/// "jose da silva").
pub fn normalise(text: &str) -> String {
    let stripped: String = text.nfd().filter(|c| !is_combining_mark(*c)).collect();
    stripped
        .to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn name_matches(query: &str, enrolled: &str, mode: NameMatch) -> bool {
    match mode {
        NameMatch::Exact => query == enrolled,
        NameMatch::Partial => {
            let enrolled = normalise(enrolled);
            let enrolled_words: Vec<&str> = enrolled.split(' ').collect();
            let query = normalise(query);
            !query.is_empty() && query.split(' ').all(|word| enrolled_words.contains(&word))
        }
    }
}

/// One result per attribute the query sets, in a fixed order (name, date of birth,
/// gender, address); the address matches when every queried field does.
pub fn match_demographics(query: &DemographicQuery, enrolled: &Demographics) -> Vec<FactorResult> {
    let mut results = Vec::new();
    if !query.name.is_empty() {
        results.push(FactorResult {
            factor: Factor::Name,
            matched: name_matches(&query.name, &enrolled.name, query.name_match),
        });
    }
    if !query.date_of_birth.is_empty() {
        results.push(FactorResult {
            factor: Factor::DateOfBirth,
            matched: query.date_of_birth == enrolled.date_of_birth,
        });
    }
    if !query.gender.is_empty() {
        results.push(FactorResult {
            factor: Factor::Gender,
            matched: query.gender.same_as(&enrolled.gender),
        });
    }
    if !query.address.is_empty() {
        let matched = query
            .address
            .fields()
            .iter()
            .zip(enrolled.address.fields())
            .filter(|(asked, _)| !asked.is_empty())
            .all(|(asked, held)| normalise(asked) == normalise(held));
        results.push(FactorResult {
            factor: Factor::Address,
            matched,
        });
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;
    use idauth_core::Address;

    fn enrolled() -> Demographics {
        Demographics {
            name: "José Kumar  DA Silva".into(),
            date_of_birth: idauth_core::DateOfBirth::new("1984-03-09").unwrap(),
            gender: idauth_core::Gender::new("M").unwrap(),
            address: Address {
                locality: "Pune".into(),
                postal_code: "411001".into(),
                ..Address::default()
            },
        }
    }

    #[test]
    fn normalising_folds_case_spaces_and_diacritics() {
        assert_eq!(normalise("  José  DA Silva "), "jose da silva");
        assert_eq!(normalise("ÅSA Öberg"), "asa oberg");
    }

    #[test]
    fn exact_names_must_be_identical_and_partial_names_are_word_subsets() {
        let query = |name: &str, name_match| DemographicQuery {
            name: name.into(),
            name_match,
            ..DemographicQuery::default()
        };
        let exact = match_demographics(
            &query("José Kumar  DA Silva", NameMatch::Exact),
            &enrolled(),
        );
        assert!(exact[0].matched);
        let close =
            match_demographics(&query("jose kumar da silva", NameMatch::Exact), &enrolled());
        assert!(!close[0].matched);
        let partial = match_demographics(&query("JOSE   silva", NameMatch::Partial), &enrolled());
        assert!(partial[0].matched);
        let other = match_demographics(&query("Jose Souza", NameMatch::Partial), &enrolled());
        assert!(!other[0].matched);
    }

    #[test]
    fn every_queried_attribute_is_reported() {
        let query = DemographicQuery {
            date_of_birth: idauth_core::DateOfBirth::new("1984-03-09").unwrap(),
            gender: idauth_core::Gender::new("m").unwrap(),
            address: Address {
                locality: "PUNE".into(),
                postal_code: "411002".into(),
                ..Address::default()
            },
            ..DemographicQuery::default()
        };
        let results = match_demographics(&query, &enrolled());
        let summary: Vec<(Factor, bool)> = results.iter().map(|r| (r.factor, r.matched)).collect();
        assert_eq!(
            summary,
            vec![
                (Factor::DateOfBirth, true),
                (Factor::Gender, true),
                (Factor::Address, false)
            ]
        );
    }
}
