//! Platforms (`os/arch[/variant]`) and choosing a manifest from an index.

use std::fmt;
use std::str::FromStr;

use crate::Error;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    /// The host's platform in Go's vocabulary (GOOS/GOARCH).
    pub fn host() -> Platform {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "x86" => "386",
            "aarch64" => "arm64",
            "loongarch64" => "loong64",
            "powerpc64" => "ppc64le",
            other => other,
        };
        Platform {
            os: "linux".to_string(),
            architecture: architecture.to_string(),
            variant: None,
        }
    }

    /// How well an index entry's platform fits, or `None` if it does not:
    /// an exact variant beats a missing one; arm64 means arm64/v8.
    pub(crate) fn fit(&self, os: &str, architecture: &str, variant: Option<&str>) -> Option<u8> {
        if os != self.os || architecture != self.architecture {
            return None;
        }
        let default_variant = |arch: &str| match arch {
            "arm64" => Some("v8"),
            _ => None,
        };
        let want = self
            .variant
            .as_deref()
            .or(default_variant(&self.architecture));
        let have = variant.or(default_variant(architecture));
        match (want, have) {
            (Some(w), Some(h)) if w == h => Some(2),
            (Some(_), Some(_)) => None,
            // The user asked for a variant: only an entry with it fits.
            (Some(_), None) if self.variant.is_some() => None,
            _ => Some(1),
        }
    }
}

impl FromStr for Platform {
    type Err = Error;

    fn from_str(s: &str) -> Result<Platform, Error> {
        let parts: Vec<&str> = s.split('/').collect();
        let ok =
            |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !(2..=3).contains(&parts.len()) || !parts.iter().all(ok) {
            return Err(Error::InvalidPlatform(s.to_string()));
        }
        let architecture = match parts[1] {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            other => other,
        };
        Ok(Platform {
            os: parts[0].to_string(),
            architecture: architecture.to_string(),
            variant: parts.get(2).map(|v| v.to_string()),
        })
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_matches_platforms() {
        let arm: Platform = "linux/arm64/v8".parse().unwrap();
        assert_eq!(arm.to_string(), "linux/arm64/v8");
        assert!(arm.fit("linux", "arm64", None).is_some());
        assert!(arm.fit("linux", "arm64", Some("v8")).is_some());
        assert!(arm.fit("linux", "amd64", None).is_none());
        let arm7: Platform = "linux/arm/v7".parse().unwrap();
        assert!(arm7.fit("linux", "arm", Some("v6")).is_none());
        assert!(arm7.fit("linux", "arm", None).is_none());
        let amd: Platform = "linux/x86_64".parse().unwrap();
        assert_eq!(amd.architecture, "amd64");
        assert!(amd.fit("linux", "amd64", None).is_some());
        assert!(amd.fit("windows", "amd64", None).is_none());
        for bad in ["linux", "linux/", "/amd64", "a/b/c/d", "linux/amd 64"] {
            assert!(bad.parse::<Platform>().is_err(), "{bad}");
        }
    }
}
