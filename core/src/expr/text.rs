//! Text transforms: diacritics, .NET-style case mapping and title case.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// `NormalizeDiacritics`: removes accents (combining marks after canonical decomposition) and
/// applies the letters of Microsoft's table that do not decompose: æ→ae, ø→oe, ß→ss, ł→l, ı→i,
/// đ stays (not in the table), and œ→oe only where the table lists it (œ with a mark).
pub(crate) fn normalize_diacritics(s: &str) -> String {
    if s.is_ascii() {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.nfd().peekable();
    while let Some(c) = chars.next() {
        if is_combining_mark(c) {
            continue;
        }
        match c {
            'æ' => out.push_str("ae"),
            'Æ' => out.push_str("AE"),
            'ø' => out.push_str("oe"),
            'Ø' => out.push_str("OE"),
            'œ' if chars.peek().is_some_and(|n| is_combining_mark(*n)) => out.push_str("oe"),
            'Œ' if chars.peek().is_some_and(|n| is_combining_mark(*n)) => out.push_str("OE"),
            'ß' => out.push_str("ss"),
            'ł' => out.push('l'),
            'Ł' => out.push('L'),
            'ı' => out.push('i'),
            other => out.push(other),
        }
    }
    out
}

/// The culture rules `ToLower`/`ToUpper`/`PCase` apply: invariant, or Turkish/Azeri dotted and
/// dotless i.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Culture {
    Invariant,
    Turkic,
}

impl Culture {
    /// Reads an RFC 4646 culture name such as `en-US`, `tr-TR` or `az-Latn-AZ`.
    pub(super) fn parse(name: &str) -> Result<Culture, String> {
        let ok = !name.is_empty()
            && name.split(['-', '_']).enumerate().all(|(i, part)| {
                let n = part.len();
                if i == 0 {
                    (2..=3).contains(&n) && part.bytes().all(|b| b.is_ascii_alphabetic())
                } else {
                    (2..=8).contains(&n) && part.bytes().all(|b| b.is_ascii_alphanumeric())
                }
            });
        if !ok {
            return Err(format!(
                "{name:?} is not a culture name; use an RFC 4646 name such as en-US or ja-JP"
            ));
        }
        let lang = name.split(['-', '_']).next().unwrap_or_default();
        Ok(
            if lang.eq_ignore_ascii_case("tr") || lang.eq_ignore_ascii_case("az") {
                Culture::Turkic
            } else {
                Culture::Invariant
            },
        )
    }
}

/// One-to-one lower-case mapping, as .NET's `char.ToLower` (no expansion).
pub(crate) fn lower_char(c: char, culture: Culture) -> char {
    if culture == Culture::Turkic {
        match c {
            'I' => return 'ı',
            'İ' => return 'i',
            _ => {}
        }
    }
    let mut it = c.to_lowercase();
    match (it.next(), it.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

/// One-to-one upper-case mapping, as .NET's `char.ToUpper` (`ß` stays `ß`).
pub(crate) fn upper_char(c: char, culture: Culture) -> char {
    if culture == Culture::Turkic {
        match c {
            'i' => return 'İ',
            'ı' => return 'I',
            _ => {}
        }
    }
    let mut it = c.to_uppercase();
    match (it.next(), it.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

/// Title case of the first letter of a word (the Latin digraphs have their own title forms).
fn title_char(c: char) -> char {
    match c {
        'Ǆ' | 'ǅ' | 'ǆ' => 'ǅ',
        'Ǉ' | 'ǈ' | 'ǉ' => 'ǈ',
        'Ǌ' | 'ǋ' | 'ǌ' => 'ǋ',
        'Ǳ' | 'ǲ' | 'ǳ' => 'ǲ',
        _ => upper_char(c, Culture::Invariant),
    }
}

/// Lower-cases a string character by character.
pub(crate) fn to_lower(s: &str, culture: Culture) -> String {
    if culture == Culture::Invariant && s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    s.chars().map(|c| lower_char(c, culture)).collect()
}

/// Upper-cases a string character by character.
pub(crate) fn to_upper(s: &str, culture: Culture) -> String {
    if culture == Culture::Invariant && s.is_ascii() {
        return s.to_ascii_uppercase();
    }
    s.chars().map(|c| upper_char(c, culture)).collect()
}

fn is_letter(c: char) -> bool {
    c.is_alphabetic() && !is_combining_mark(c)
}

/// .NET's word separators for `ToTitleCase`: spaces, controls, format characters, punctuation
/// and symbols. Letters, marks and numbers belong to words.
fn is_word_separator(c: char) -> bool {
    !(c.is_alphanumeric() || is_combining_mark(c))
}

/// `PCase` without word separators: lower-case, then .NET's `TextInfo.ToTitleCase` — a word
/// starts at a letter after a separator; digits and marks do not end a word, an apostrophe
/// inside a word does not start a new one (`o'neil` → `O'neil`, `3rd` → `3Rd`).
pub(crate) fn title_case(s: &str) -> String {
    let lower = to_lower(s, Culture::Invariant);
    let chars: Vec<char> = lower.chars().collect();
    let mut out = String::with_capacity(lower.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if !is_letter(c) {
            out.push(c);
            i += 1;
            continue;
        }
        out.push(title_char(c));
        i += 1;
        while i < chars.len() {
            let c = chars[i];
            if c == '\'' || !is_word_separator(c) {
                out.push(c);
                i += 1;
            } else {
                break;
            }
        }
    }
    out
}

/// `PCase` with word separators: each run between separator characters gets an upper-case
/// first character and lower-case rest.
pub(crate) fn title_case_with(s: &str, separators: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if separators.contains(c) {
            out.push(c);
            start = true;
        } else if start {
            out.push(title_char(c));
            start = false;
        } else {
            out.push(lower_char(c, Culture::Invariant));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diacritics_from_the_reference_table() {
        assert_eq!(normalize_diacritics("Zoë"), "Zoe");
        assert_eq!(
            normalize_diacritics("äàâãåáąăāǟǡ ÄÀÂÃÅÁĄĂĀǞǠ"),
            "aaaaaaaaaaa AAAAAAAAAAA"
        );
        assert_eq!(normalize_diacritics("æǣ ÆǢ"), "aeae AEAE");
        assert_eq!(
            normalize_diacritics("çčć ďḏ ğḡ ïîìíıī İ"),
            "ccc dd gg iiiiii I"
        );
        assert_eq!(normalize_diacritics("ľłḹḻ ŁĽ ñńňṉ"), "llll LL nnnn");
        assert_eq!(normalize_diacritics("öòőõôóōṓȫȭȱ"), "ooooooooooo");
        assert_eq!(normalize_diacritics("ø ø̄ œ̄ Ø Œ̄ œ"), "oe oe oe OE OE œ");
        assert_eq!(normalize_diacritics("řṟṝ ß šśșş ťț"), "rrr ss ssss tt");
        assert_eq!(
            normalize_diacritics("üùûúůűūǖṻ ÿýȳ źžżẕ"),
            "uuuuuuuuu yyy zzzz"
        );
        assert_eq!(normalize_diacritics("Jéssica Smith"), "Jessica Smith");
        assert_eq!(normalize_diacritics("plain"), "plain");
    }

    #[test]
    fn title_case_follows_dotnet() {
        assert_eq!(
            title_case("PABLO GONSALVES (SECOND)"),
            "Pablo Gonsalves (Second)"
        );
        assert_eq!(title_case("GREGORY JAMES"), "Gregory James");
        assert_eq!(title_case("o'neil mc-donald"), "O'neil Mc-Donald");
        assert_eq!(title_case("3rd street"), "3Rd Street");
        assert_eq!(title_case("hello_world\tfoo"), "Hello_World\tFoo");
        assert_eq!(title_case("élan «vital»"), "Élan «Vital»");
        assert_eq!(title_case_with("PINTO-DE'SILVA", " '-"), "Pinto-De'Silva");
        assert_eq!(title_case_with("ab cd", ""), "Ab cd");
    }

    #[test]
    fn case_mapping_is_one_to_one() {
        assert_eq!(to_upper("straße", Culture::Invariant), "STRAßE");
        assert_eq!(to_lower("İSTANBUL", Culture::Invariant), "İstanbul");
        assert_eq!(to_lower("İSTANBUL", Culture::Turkic), "istanbul");
        assert_eq!(to_upper("istanbul", Culture::Turkic), "İSTANBUL");
        assert_eq!(Culture::parse("en-US"), Ok(Culture::Invariant));
        assert_eq!(Culture::parse("tr-TR"), Ok(Culture::Turkic));
        assert!(Culture::parse("english please").is_err());
    }
}

#[cfg(test)]
mod table_tests {
    use super::normalize_diacritics;

    /// Microsoft's NormalizeDiacritics table, row by row (characters, normalized form).
    const TABLE: &[(&str, &str)] = &[
        ("ä, à, â, ã, å, á, ą, ă, ā, ā́, ā̀, ā̂, ā̃, ǟ, ā̈, ǡ, a̱, å̄", "a"),
        ("Ä, À, Â, Ã, Å, Á, Ą, Ă, Ā, Ā́, Ā̀, Ā̂, Ā̃, Ǟ, Ā̈, Ǡ, A̱, Å̄", "A"),
        ("æ, ǣ", "ae"),
        ("Æ, Ǣ", "AE"),
        ("ç, č, ć, c̄, c̱", "c"),
        ("Ç, Č, Ć, C̄, C̱", "C"),
        ("ď, d̄, ḏ", "d"),
        ("Ď, D̄, Ḏ", "D"),
        ("ë, è, é, ê, ę, ě, ė, ē, ḗ, ḕ, ē̂, ē̃, ê̄, e̱, ë̄, e̊̄", "e"),
        ("Ë, È, É, Ê, Ę, Ě, Ė, Ē, Ḗ, Ḕ, Ē̂, Ē̃, Ê̄, E̱, Ë̄, E̊̄", "E"),
        ("ğ, ḡ, g̱", "g"),
        ("Ğ, Ḡ, G̱", "G"),
        ("ï, î, ì, í, ı, ī, ī́, ī̀, ī̂, ī̃, i̱", "i"),
        ("Ï, Î, Ì, Í, İ, Ī, Ī́, Ī̀, Ī̂, Ī̃, I̱", "I"),
        ("ľ, ł, l̄, ḹ, ḻ", "l"),
        ("Ł, Ľ, L̄, Ḹ, Ḻ", "L"),
        ("ñ, ń, ň, n̄, ṉ", "n"),
        ("Ñ, Ń, Ň, N̄, Ṉ", "N"),
        ("ö, ò, ő, õ, ô, ó, ō, ṓ, ṑ, ō̂, ō̃, ȫ, ō̈, ǭ, ȭ, ȱ, o̱", "o"),
        ("Ö, Ò, Ő, Õ, Ô, Ó, Ō, Ṓ, Ṑ, Ō̂, Ō̃, Ȫ, Ō̈, Ǭ, Ȭ, Ȱ, O̱", "O"),
        ("ø, ø̄, œ̄", "oe"),
        ("Ø, Ø̄, Œ̄", "OE"),
        ("ř, r̄, ṟ, ṝ", "r"),
        ("Ř, R̄, Ṟ, Ṝ", "R"),
        ("ß", "ss"),
        ("š, ś, ș, ş, s̄, s̱", "s"),
        ("Š, Ś, Ș, Ş, S̄, S̱", "S"),
        ("ť, ț, t̄, ṯ", "t"),
        ("Ť, Ț, T̄, Ṯ", "T"),
        ("ü, ù, û, ú, ů, ű, ū, ū́, ū̀, ū̂, ū̃, u̇̄, ǖ, ṻ, ṳ̄, u̱", "u"),
        ("Ü, Ù, Û, Ú, Ů, Ű, Ū, Ū́, Ū̀, Ū̂, Ū̃, U̇̄, Ǖ, Ṻ, Ṳ̄, U̱", "U"),
        ("ÿ, ý, ȳ, ȳ́, ȳ̀, ȳ̃, y̱", "y"),
        ("Ÿ, Ý, Ȳ, Ȳ́, Ȳ̀, Ȳ̃, Y̱", "Y"),
        ("ź, ž, ż, z̄, ẕ", "z"),
        ("Ź, Ž, Ż, Z̄, Ẕ", "Z"),
    ];

    #[test]
    fn every_entry_of_the_reference_table() {
        for (chars, normalized) in TABLE {
            for c in chars.split(", ") {
                assert_eq!(
                    normalize_diacritics(c),
                    *normalized,
                    "{c:?} ({:?})",
                    c.chars()
                        .map(|x| format!("U+{:04X}", x as u32))
                        .collect::<Vec<_>>()
                );
            }
        }
    }
}
