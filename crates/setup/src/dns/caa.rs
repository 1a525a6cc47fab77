//! CAA records (RFC 8659): who may issue certificates for a name, read the way a CA reads them,
//! including the account and validation-method limits of RFC 8657. Used before asking a CA
//! (would it refuse?) and for the optional record the DNS step offers once the relay has its
//! certificate (only this server's account may get the next one).

use std::collections::BTreeMap;

/// The challenges the relay answers, as RFC 8657 names them.
pub const VALIDATION_METHODS: &str = "tls-alpn-01,http-01";

/// One CAA property as found (`0 issue "letsencrypt.org; accounturi=…"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    /// `issue`, `issuewild`, `iodef`, … (lower case).
    pub tag: String,
    /// For `issue`: the CA's domain (lower case); empty for "nobody" (`";"`).
    pub issuer: String,
    /// For `issue`: its parameters (keys lower case).
    pub parameters: BTreeMap<String, String>,
}

impl Property {
    /// Parses `flags tag "value"`; `None` when it is not that shape.
    pub fn parse(text: &str) -> Option<Property> {
        let mut parts = text.trim().splitn(3, char::is_whitespace);
        let (flags, tag, value) = (parts.next()?, parts.next()?, parts.next()?);
        flags.parse::<u8>().ok()?;
        let value = value.trim();
        let value = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value);
        let mut pieces = value.split(';');
        let issuer = pieces.next().unwrap_or("").trim().to_ascii_lowercase();
        let parameters = pieces
            .filter_map(|piece| {
                let (key, value) = piece.split_once('=')?;
                Some((key.trim().to_ascii_lowercase(), value.trim().to_string()))
            })
            .collect();
        Some(Property { tag: tag.to_ascii_lowercase(), issuer, parameters })
    }

    fn allows(&self, ca: &str, account: Option<&str>) -> bool {
        self.issuer == ca.to_ascii_lowercase()
            && self.parameters.get("accounturi").is_none_or(|uri| Some(uri.as_str()) == account)
            && self.parameters.get("validationmethods").is_none_or(|methods| {
                methods.split(',').any(|method| VALIDATION_METHODS.split(',').any(|m| m == method))
            })
    }
}

/// What a CAA set (as found at the closest name that has one) says about a CA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The CA may issue (or no `issue` property: anyone may).
    Allows,
    /// Only other CAs may.
    OtherCa,
    /// The CA may, but only for another account than the relay's (or the relay has none yet),
    /// or only by a challenge the relay does not answer.
    Restricted,
}

/// Reads `values` (found at one name) for `ca` and the relay's account at it, if it has one.
pub fn verdict(values: &[String], ca: &str, account: Option<&str>) -> Verdict {
    let issue: Vec<Property> = values
        .iter()
        .filter_map(|value| Property::parse(value))
        .filter(|property| property.tag == "issue")
        .collect();
    if issue.is_empty() || issue.iter().any(|property| property.allows(ca, account)) {
        Verdict::Allows
    } else if issue.iter().any(|property| property.issuer == ca.to_ascii_lowercase()) {
        Verdict::Restricted
    } else {
        Verdict::OtherCa
    }
}

/// The `issue` value that lets only `account` at the CA `issuer` get certificates, by the
/// challenges the relay answers.
pub fn issue_value(issuer: &str, account: &str) -> String {
    format!("{issuer}; accounturi={account}; validationmethods={VALIDATION_METHODS}")
}

/// The whole record value (`0 issue "…"`), as a zone file has it.
pub fn record_value(issuer: &str, account: &str) -> String {
    format!("0 issue \"{}\"", issue_value(issuer, account))
}

/// Whether a found value is `planned` (same issuer and parameters, however spaced).
pub fn same(found: &str, planned: &str) -> bool {
    match (Property::parse(found), Property::parse(planned)) {
        (Some(found), Some(planned)) => found == planned,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LE: &str = "letsencrypt.org";
    const ACCOUNT: &str = "https://acme-v02.api.letsencrypt.org/acme/acct/123";

    #[test]
    fn issue_properties_decide_like_a_ca() {
        assert_eq!(verdict(&[], LE, None), Verdict::Allows, "no CAA: anyone");
        let only_le = vec!["0 issue \"letsencrypt.org\"".to_string()];
        assert_eq!(verdict(&only_le, LE, None), Verdict::Allows);
        assert_eq!(
            verdict(&["0 issue \"sectigo.com\"".to_string(), only_le[0].clone()], LE, None),
            Verdict::Allows,
            "several issuers: any of them"
        );
        assert_eq!(verdict(&["0 issue \"sectigo.com\"".to_string()], LE, None), Verdict::OtherCa);
        assert_eq!(
            verdict(&["0 iodef \"mailto:a@b\"".to_string()], LE, None),
            Verdict::Allows,
            "no issue property: anyone"
        );
        assert_eq!(verdict(&["0 issue \";\"".to_string()], LE, None), Verdict::OtherCa, "nobody");
        assert_eq!(
            verdict(&["0 issue \"LetsEncrypt.org\"".to_string()], LE, None),
            Verdict::Allows
        );
    }

    #[test]
    fn an_account_uri_lets_only_that_account_issue() {
        let pinned = vec![record_value(LE, ACCOUNT)];
        assert_eq!(verdict(&pinned, LE, Some(ACCOUNT)), Verdict::Allows);
        assert_eq!(verdict(&pinned, LE, None), Verdict::Restricted, "a new account would fail");
        assert_eq!(
            verdict(&pinned, LE, Some("https://acme-v02.api.letsencrypt.org/acme/acct/9")),
            Verdict::Restricted
        );
        let dns_only = vec!["0 issue \"letsencrypt.org; validationmethods=dns-01\"".to_string()];
        assert_eq!(verdict(&dns_only, LE, None), Verdict::Restricted, "no method we answer");
    }

    #[test]
    fn the_planned_record_is_recognised_however_it_is_spaced() {
        let planned = record_value(LE, ACCOUNT);
        assert_eq!(
            planned,
            "0 issue \"letsencrypt.org; accounturi=https://acme-v02.api.letsencrypt.org/acme/acct/123; validationmethods=tls-alpn-01,http-01\""
        );
        assert!(same(
            &format!(
                "0 issue \"LetsEncrypt.org;accounturi={ACCOUNT} ;validationmethods=tls-alpn-01,http-01\""
            ),
            &planned
        ));
        assert!(!same("0 issue \"letsencrypt.org\"", &planned));
        assert!(!same("not a caa record", &planned));
    }
}
