//! Envelope addresses: parsing `MAIL FROM:<...>` and `RCPT TO:<...>` arguments (RFC 5321
//! §4.1.2), and the rules an address must follow.

/// The longest address accepted (RFC 5321 §4.5.3.1.3 allows 256 octets for a path).
pub const MAX_ADDRESS: usize = 256;

/// A parsed `MAIL` or `RCPT` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathArgument {
    /// The address; empty for the null reverse path `<>`.
    pub address: String,
    /// `SIZE=` if given.
    pub size: Option<u64>,
    /// `SMTPUTF8` was given.
    pub smtputf8: bool,
}

/// Why an argument was refused; each maps to a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressError {
    /// Not `FROM:<...>` / `TO:<...>` at all.
    Syntax,
    /// Longer than [`MAX_ADDRESS`].
    TooLong,
    /// Not `local@domain`, or the domain is not a valid name.
    Invalid,
}

/// Parses the text after `MAIL` (`keyword` = "FROM") or `RCPT` ("TO").
pub fn parse_path(argument: &str, keyword: &str) -> Result<PathArgument, AddressError> {
    let argument = argument.trim_start();
    let prefix = argument.get(..keyword.len() + 1).ok_or(AddressError::Syntax)?;
    if !prefix.eq_ignore_ascii_case(&format!("{keyword}:")) {
        return Err(AddressError::Syntax);
    }
    // Some clients put spaces after the colon; RFC 5321 does not, but it is harmless.
    let rest = argument[keyword.len() + 1..].trim_start();
    let rest = rest.strip_prefix('<').ok_or(AddressError::Syntax)?;
    let close = rest.find('>').ok_or(AddressError::Syntax)?;
    let mut address = &rest[..close];
    let parameters = &rest[close + 1..];
    if !parameters.is_empty() && !parameters.starts_with(' ') {
        return Err(AddressError::Syntax);
    }
    // A source route (`<@a,@b:user@domain>`, RFC 5321 §4.1.2) is accepted and ignored.
    if address.starts_with('@') {
        address =
            address.split_once(':').map(|(_, address)| address).ok_or(AddressError::Syntax)?;
    }
    if address.len() > MAX_ADDRESS {
        return Err(AddressError::TooLong);
    }
    let mut parsed = PathArgument { address: address.to_string(), size: None, smtputf8: false };
    for parameter in parameters.split_whitespace() {
        let (name, value) = parameter.split_once('=').unwrap_or((parameter, ""));
        if name.eq_ignore_ascii_case("SIZE") {
            parsed.size = Some(value.parse().map_err(|_| AddressError::Syntax)?);
        } else if name.eq_ignore_ascii_case("SMTPUTF8") {
            parsed.smtputf8 = true;
        }
        // BODY, RET, ENVID, NOTIFY, ORCPT, AUTH: accepted; nothing here depends on them.
    }
    if !address.is_empty() {
        check_address(address, parsed.smtputf8)?;
    }
    Ok(parsed)
}

/// Checks `local@domain`: a non-empty local part without spaces or controls, and a domain of
/// valid labels (letters, digits, hyphens; other Unicode letters only with SMTPUTF8).
pub fn check_address(address: &str, smtputf8: bool) -> Result<(), AddressError> {
    let (local, domain) = address.rsplit_once('@').ok_or(AddressError::Invalid)?;
    let quoted = local.len() >= 2 && local.starts_with('"') && local.ends_with('"');
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && local.chars().all(|c| {
            if quoted {
                c != '\r' && c != '\n'
            } else {
                !c.is_whitespace() && !c.is_control() && !"<>()[]\\,;:@\"".contains(c)
            }
        })
        && (smtputf8 || local.is_ascii());
    if !local_ok {
        return Err(AddressError::Invalid);
    }
    check_domain(domain, smtputf8)
}

/// Checks a domain name (an address literal like `[198.51.100.1]` is refused: we never
/// deliver to literals).
pub fn check_domain(domain: &str, smtputf8: bool) -> Result<(), AddressError> {
    let domain = domain.strip_suffix('.').unwrap_or(domain);
    if domain.is_empty() || domain.len() > 253 || !domain.contains('.') {
        return Err(AddressError::Invalid);
    }
    for label in domain.split('.') {
        // The config's label rule; with SMTPUTF8 a non-ASCII letter or digit counts as a letter.
        let shape: String = label
            .chars()
            .map(|c| if smtputf8 && !c.is_ascii() && c.is_alphanumeric() { 'a' } else { c })
            .collect();
        if label.len() > 63 || outpost_relay_config::check_label(&shape).is_err() {
            return Err(AddressError::Invalid);
        }
    }
    Ok(())
}

/// The domain of an address, lower-case.
pub fn domain_of(address: &str) -> String {
    address
        .rsplit_once('@')
        .map(|(_, domain)| domain.trim_end_matches('.').to_lowercase())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(argument: &str, keyword: &str) -> Result<String, AddressError> {
        parse_path(argument, keyword).map(|path| path.address)
    }

    #[test]
    fn well_formed_paths_parse() {
        assert_eq!(check("FROM:<alice@example.com>", "FROM"), Ok("alice@example.com".into()));
        assert_eq!(
            check("from: <alice@example.com> BODY=8BITMIME SIZE=100", "FROM"),
            Ok("alice@example.com".into())
        );
        assert_eq!(
            check("TO:<@relay.example,@other.example:bob@example.net>", "TO"),
            Ok("bob@example.net".into())
        );
        assert_eq!(parse_path("FROM:<a@example.com> SIZE=1234", "FROM").unwrap().size, Some(1234));
    }

    #[test]
    fn the_null_reverse_path_is_accepted_with_or_without_options() {
        // Conformance 22.
        for argument in ["FROM:<>", "FROM:  <>", "FROM:<> BODY=7BIT", "FROM:<> OPTION"] {
            assert_eq!(check(argument, "FROM"), Ok(String::new()), "{argument}");
        }
    }

    #[test]
    fn malformed_paths_are_refused() {
        // Conformance 21.
        for argument in [
            "LALA:<a@example.com>",
            "",
            "FROM:",
            "FROM:a@example.com",
            "FROM:<a@example.com",
            "FROM:<a@example.com>x",
        ] {
            assert_eq!(check(argument, "FROM"), Err(AddressError::Syntax), "{argument:?}");
        }
        for argument in [
            "TO:<nobody>",
            "TO:<x y@example.com>",
            "TO:<a@example>",
            "TO:<a@-example.com>",
            "TO:<a@exa_mple.com>",
            "TO:<a@[198.51.100.1]>",
            "TO:<a@xn--.com>",
        ] {
            assert_eq!(check(argument, "TO"), Err(AddressError::Invalid), "{argument:?}");
        }
    }

    #[test]
    fn overlong_addresses_are_refused() {
        // Conformance 23.
        let long = format!("TO:<{}@example.com>", "a".repeat(250));
        assert_eq!(check(&long, "TO"), Err(AddressError::TooLong));
    }

    #[test]
    fn unicode_needs_smtputf8() {
        assert_eq!(check("TO:<josé@ejemplo.es>", "TO"), Err(AddressError::Invalid));
        assert_eq!(check("TO:<josé@ejemplo.es> SMTPUTF8", "TO"), Ok("josé@ejemplo.es".into()));
    }
}
