//! Validated scalar values of the config file: each type checks itself while it is parsed, so a
//! bad value is reported by the TOML parser at its exact line and column.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Implements `Display`, `Serialize` and `Deserialize` (through `FromStr`) for a value type.
macro_rules! string_value {
    ($type:ty, $expecting:literal) => {
        impl fmt::Display for $type {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.write(formatter)
            }
        }

        impl Serialize for $type {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $type {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                text.parse().map_err(|reason: String| {
                    serde::de::Error::custom(format!("{reason} (expected {})", $expecting))
                })
            }
        }
    };
}

/// A fully qualified DNS name such as `mail.example.com` (RFC 1035 §2.3.1 letters, digits and
/// hyphens; RFC 1123 §2.1 allows a leading digit). Stored lower-case, without a trailing dot.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DomainName(String);

impl DomainName {
    /// The name as text, lower-case, without a trailing dot.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn write(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl FromStr for DomainName {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let name = text.strip_suffix('.').unwrap_or(text).to_ascii_lowercase();
        if name.is_empty() {
            return Err("the name is empty".into());
        }
        if name.len() > 253 {
            return Err(format!("`{text}` is longer than 253 characters"));
        }
        if !name.contains('.') {
            return Err(format!("`{text}` needs at least two labels, like `example.com`"));
        }
        for label in name.split('.') {
            check_label(label).map_err(|reason| format!("`{text}`: {reason}"))?;
        }
        if name.rsplit('.').next().is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit())) {
            return Err(format!("`{text}` looks like an IP address, not a name"));
        }
        Ok(DomainName(name))
    }
}

string_value!(DomainName, "a domain name such as `mail.example.com`");

/// Checks one DNS label: 1–63 letters, digits or hyphens, not starting or ending with a hyphen
/// (RFC 1035 §2.3.1, RFC 1123 §2.1). The one label rule: the relay's envelope checks use it too.
/// A bare `xn--` fails it by ending with a hyphen.
pub fn check_label(label: &str) -> Result<(), String> {
    if label.is_empty() {
        return Err("has an empty label (two dots in a row?)".into());
    }
    if label.len() > 63 {
        return Err(format!("the label `{label}` is longer than 63 characters"));
    }
    if let Some(bad) = label.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-')) {
        return Err(format!("`{bad}` is not allowed in a name (letters, digits and `-` only)"));
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(format!("the label `{label}` starts or ends with `-`"));
    }
    Ok(())
}

/// A DKIM selector (RFC 6376 §3.1): one or more dot-separated labels, e.g. `outpost2026`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Selector(String);

impl Selector {
    /// The selector as text, lower-case.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn write(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl FromStr for Selector {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let selector = text.to_ascii_lowercase();
        for label in selector.split('.') {
            check_label(label).map_err(|reason| format!("selector `{text}` {reason}"))?;
        }
        Ok(Selector(selector))
    }
}

string_value!(Selector, "a DKIM selector such as `outpost`");

/// A mail address `local@domain`: an ASCII local part without spaces, quotes or brackets (what
/// a forwarding destination or an owner's address looks like), and a [`DomainName`]. The domain is
/// stored lower-case; the local part as given.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MailAddress {
    local: String,
    domain: DomainName,
}

impl MailAddress {
    /// The part before the `@`.
    pub fn local(&self) -> &str {
        &self.local
    }

    /// The domain.
    pub fn domain(&self) -> &DomainName {
        &self.domain
    }

    fn write(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}@{}", self.local, self.domain)
    }
}

impl FromStr for MailAddress {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (local, domain) = text.rsplit_once('@').ok_or_else(|| format!("`{text}` has no @"))?;
        let plain = |c: char| c.is_ascii_graphic() && !"<>()[]\\,;:@\"".contains(c);
        if local.is_empty() || local.len() > 64 || !local.chars().all(plain) {
            return Err(format!("`{text}` does not have a usable part before the @"));
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err(format!(
                "`{text}`: the part before the @ cannot start, end or repeat a dot"
            ));
        }
        let domain = domain.parse().map_err(|reason| format!("`{text}`: {reason}"))?;
        Ok(MailAddress { local: local.to_string(), domain })
    }
}

string_value!(MailAddress, "an address such as `you@example.com`");

/// An absolute file system path on the server. Relative paths are refused because the relay's
/// working directory under systemd is not something a reader of the config should have to know.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AbsolutePath(PathBuf);

impl AbsolutePath {
    /// The path.
    pub fn as_path(&self) -> &Path {
        &self.0
    }

    fn write(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.0.display())
    }
}

impl FromStr for AbsolutePath {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let path = Path::new(text);
        if !path.is_absolute() {
            return Err(format!(
                "`{text}` is a relative path; write it from the root, like `/etc/outpost/...`"
            ));
        }
        Ok(AbsolutePath(path.to_path_buf()))
    }
}

string_value!(AbsolutePath, "an absolute path");

/// A span of time written the way people write it: `90s`, `30m`, `12h`, `5d`, or a combination
/// such as `1h30m`. Serialized back in the same style.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(std::time::Duration);

impl Duration {
    /// A duration of whole seconds.
    pub const fn from_secs(seconds: u64) -> Self {
        Duration(std::time::Duration::from_secs(seconds))
    }

    /// The standard library value.
    pub fn get(self) -> std::time::Duration {
        self.0
    }

    fn write(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut seconds = self.0.as_secs();
        if seconds == 0 {
            return formatter.write_str("0s");
        }
        for (unit, size) in DURATION_UNITS {
            if seconds >= size {
                write!(formatter, "{}{unit}", seconds / size)?;
                seconds %= size;
            }
        }
        Ok(())
    }
}

/// Units from largest to smallest, so that formatting is greedy and parsing accepts any order.
const DURATION_UNITS: [(&str, u64); 4] = [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)];

impl FromStr for Duration {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        if compact.is_empty() {
            return Err("the duration is empty".into());
        }
        let mut total: u64 = 0;
        let mut rest = compact.as_str();
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(format!(
                    "`{text}` must start each part with a number, like `5d` or `1h30m`"
                ));
            }
            let number: u64 =
                rest[..digits].parse().map_err(|_| format!("`{text}` is too large"))?;
            rest = &rest[digits..];
            let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
            let unit = &rest[..unit_len];
            rest = &rest[unit_len..];
            let size = DURATION_UNITS
                .iter()
                .find(|(name, _)| *name == unit)
                .map(|(_, size)| *size)
                .ok_or_else(|| {
                    format!("`{text}` has an unknown unit `{unit}` (use d, h, m or s)")
                })?;
            total = number
                .checked_mul(size)
                .and_then(|part| total.checked_add(part))
                .ok_or_else(|| format!("`{text}` is too large"))?;
        }
        Ok(Duration::from_secs(total))
    }
}

string_value!(Duration, "a duration such as `30s`, `15m`, `12h` or `5d`");

/// An amount of bytes: a plain number, or a number with a unit (`25 MiB`, `512KiB`, `10MB`).
/// Serialized with the largest binary unit that divides it exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(u64);

impl ByteSize {
    /// A size of `count` mebibytes.
    pub const fn mib(count: u64) -> Self {
        ByteSize(count * 1024 * 1024)
    }

    /// The size in bytes.
    pub fn bytes(self) -> u64 {
        self.0
    }

    fn write(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, size) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
            if self.0 >= size && self.0.is_multiple_of(size) {
                return write!(formatter, "{} {unit}", self.0 / size);
            }
        }
        write!(formatter, "{} B", self.0)
    }
}

impl FromStr for ByteSize {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        let digits = trimmed.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!("`{text}` must start with a number, like `25 MiB`"));
        }
        let number: u64 =
            trimmed[..digits].parse().map_err(|_| format!("`{text}` is too large"))?;
        let multiplier: u64 = match trimmed[digits..].trim() {
            "" | "B" => 1,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            "kB" | "KB" => 1_000,
            "MB" => 1_000_000,
            "GB" => 1_000_000_000,
            unit => {
                return Err(format!(
                    "`{text}` has an unknown unit `{unit}` (use B, KiB, MiB, GiB, kB, MB or GB)"
                ));
            }
        };
        number.checked_mul(multiplier).map(ByteSize).ok_or_else(|| format!("`{text}` is too large"))
    }
}

string_value!(ByteSize, "a size such as `25 MiB`");

/// Sizes may also be written as a plain TOML integer of bytes.
impl ByteSize {
    pub(crate) fn deserialize_lenient<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bytes(u64),
            Text(ByteSize),
        }
        Ok(match Raw::deserialize(deserializer)? {
            Raw::Bytes(bytes) => ByteSize(bytes),
            Raw::Text(size) => size,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_names_are_normalised_and_checked() {
        assert_eq!("Mail.Example.COM.".parse::<DomainName>().unwrap().as_str(), "mail.example.com");
        for bad in ["", "localhost", "a..b", "-a.com", "a-.com", "ex ample.com", "1.2.3.4", "é.com"]
        {
            assert!(bad.parse::<DomainName>().is_err(), "{bad:?} should be refused");
        }
        let long_label = format!("{}.com", "a".repeat(64));
        assert!(long_label.parse::<DomainName>().is_err());
        assert!("3com.example".parse::<DomainName>().is_ok(), "RFC 1123 allows leading digits");
    }

    #[test]
    fn durations_round_trip() {
        for (text, seconds, shown) in [
            ("5d", 432_000, "5d"),
            ("1h30m", 5_400, "1h30m"),
            ("90s", 90, "1m30s"),
            ("0s", 0, "0s"),
            ("2 h", 7_200, "2h"),
        ] {
            let duration: Duration = text.parse().unwrap();
            assert_eq!(duration.get().as_secs(), seconds, "{text}");
            assert_eq!(duration.to_string(), shown, "{text}");
        }
        for bad in ["", "5", "d", "5w", "99999999999999999999d"] {
            assert!(bad.parse::<Duration>().is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn byte_sizes_round_trip() {
        for (text, bytes, shown) in [
            ("25 MiB", 25 << 20, "25 MiB"),
            ("512KiB", 512 << 10, "512 KiB"),
            ("10MB", 10_000_000, "10000000 B"),
            ("1000", 1000, "1000 B"),
        ] {
            let size: ByteSize = text.parse().unwrap();
            assert_eq!(size.bytes(), bytes, "{text}");
            assert_eq!(size.to_string(), shown, "{text}");
        }
        assert!("12 parsecs".parse::<ByteSize>().is_err());
    }

    #[test]
    fn paths_must_be_absolute() {
        assert!("/etc/outpost/users".parse::<AbsolutePath>().is_ok());
        assert!("etc/outpost/users".parse::<AbsolutePath>().is_err());
    }

    #[test]
    fn selectors_allow_dots() {
        assert_eq!("Outpost.2026".parse::<Selector>().unwrap().as_str(), "outpost.2026");
        assert!("out post".parse::<Selector>().is_err());
    }
}
