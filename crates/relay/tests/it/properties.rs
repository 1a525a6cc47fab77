//! Generated input for the two parsers that face the network first: the DATA reader and the
//! envelope address parser. Whatever arrives, they never panic, never depend on how the bytes
//! were split into packets, and give back exactly what was sent.

use outpost_relay::data::{Outcome, Reader};
use outpost_relay::envelope::parse_path;
use proptest::prelude::*;

/// Feeds `bytes` split at `cuts`; returns the outcome and how many bytes it used.
fn feed(bytes: &[u8], cuts: &[usize], limit: usize) -> Option<(Outcome, usize)> {
    let mut reader = Reader::new(limit);
    let mut offset = 0;
    let mut points: Vec<usize> = cuts.iter().map(|cut| cut % (bytes.len() + 1)).collect();
    points.push(bytes.len());
    points.sort_unstable();
    for point in points {
        if point <= offset {
            continue;
        }
        if let Some((outcome, used)) = reader.feed(&bytes[offset..point]) {
            return Some((outcome, offset + used));
        }
        offset = point;
    }
    None
}

/// Dot-stuffs lines (RFC 5321 §4.5.2) and adds the terminator.
fn stuffed(lines: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in lines {
        if line.starts_with('.') {
            out.push(b'.');
        }
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_message_comes_back_exactly_however_it_is_split(
        lines in prop::collection::vec("[ -~]{0,40}|\\.[ -~]{0,10}|\\.", 0..20),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
        trailing in "[A-Z]{0,6}\r\n",
    ) {
        let mut wire = stuffed(&lines);
        let end = wire.len();
        wire.extend_from_slice(trailing.as_bytes());
        let expected: Vec<u8> = lines.iter().flat_map(|line| [line.as_bytes(), b"\r\n"].concat()).collect();
        let (outcome, used) = feed(&wire, &cuts, 1 << 20).expect("the terminator ends the message");
        prop_assert_eq!(outcome, Outcome::Message(expected));
        prop_assert_eq!(used, end, "bytes after the terminator are left for the next command");
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_do_not_depend_on_splitting(
        bytes in prop::collection::vec(any::<u8>(), 0..300),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
        limit in 1usize..200,
    ) {
        let whole = feed(&bytes, &[], limit);
        let split = feed(&bytes, &cuts, limit);
        prop_assert_eq!(whole, split);
    }

    #[test]
    fn a_bare_line_ending_anywhere_is_refused(
        before in "[ -~]{0,20}",
        bare in prop::sample::select(vec!["\n", "\r", "\r.", "\n.\n"]),
        after in "[ -~]{0,20}",
    ) {
        let wire = format!("{before}{bare}{after}\r\n.\r\n");
        let outcome = feed(wire.as_bytes(), &[], 1 << 20).map(|(outcome, _)| outcome);
        prop_assert_eq!(outcome, Some(Outcome::BadLineEnding));
    }

    #[test]
    fn the_address_parser_never_panics_and_accepts_only_clean_addresses(argument in "\\PC{0,80}") {
        for keyword in ["FROM", "TO"] {
            if let Ok(path) = parse_path(&argument, keyword) {
                prop_assert!(path.address.len() <= 256);
                prop_assert!(!path.address.contains(['<', '>', ' ', '\r', '\n']), "{:?}", path.address);
                prop_assert!(path.address.is_empty() || path.address.contains('@'));
            }
        }
    }
}
