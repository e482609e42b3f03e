//! Resolves Docker's `--user` forms (`name`, `uid`, `name:group`,
//! `uid:gid`) against the container's own `/etc/passwd` and `/etc/group`,
//! the way Docker does: a numeric id needs no entry, a name must exist.

use crate::{Error, Result};
use std::path::Path;

/// The identity the container process runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    /// From the passwd entry; Docker sets HOME to it when the image does not.
    pub home: String,
}

/// Resolves `spec` inside the root directory `root` (the container's `/`).
pub fn resolve(root: &Path, spec: &str) -> Result<Identity> {
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap_or_default();
    let group = std::fs::read_to_string(root.join("etc/group")).unwrap_or_default();
    resolve_in(&passwd, &group, spec)
}

/// Gids of `--group-add` values (names looked up in the container's
/// /etc/group, or numbers).
pub fn group_ids(root: &Path, names: &[String]) -> Result<Vec<u32>> {
    let group = std::fs::read_to_string(root.join("etc/group")).unwrap_or_default();
    names
        .iter()
        .map(|n| {
            n.parse::<u32>().or_else(|_| {
                group
                    .lines()
                    .map(|l| l.split(':').collect::<Vec<_>>())
                    .find(|f| f.len() >= 3 && f[0] == n)
                    .map_or_else(
                        || {
                            Err(Error::Setup(format!(
                                "unable to find group {n}: no matching entries in group file"
                            )))
                        },
                        |f| parse_id(f[2]),
                    )
            })
        })
        .collect()
}

fn resolve_in(passwd: &str, group: &str, spec: &str) -> Result<Identity> {
    let spec = if spec.is_empty() { "0" } else { spec };
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let entries: Vec<Vec<&str>> = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 7)
        .collect();
    let by_name = entries.iter().find(|f| f[0] == user_part);
    let (uid, mut gid, home, name) = match (user_part.parse::<u32>(), by_name) {
        (_, Some(f)) => (
            parse_id(f[2])?,
            parse_id(f[3])?,
            f[5].to_string(),
            Some(f[0]),
        ),
        (Ok(uid), None) => {
            let e = entries.iter().find(|f| f[2].parse::<u32>() == Ok(uid));
            match e {
                Some(f) => (uid, parse_id(f[3])?, f[5].to_string(), Some(f[0])),
                None => (uid, 0, "/".to_string(), None),
            }
        }
        (Err(_), None) => {
            return Err(Error::Setup(format!(
                "unable to find user {user_part}: no matching entries in passwd file"
            )))
        }
    };
    let groups: Vec<Vec<&str>> = group
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 4)
        .collect();
    if let Some(g) = group_part {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => match groups.iter().find(|f| f[0] == g) {
                Some(f) => parse_id(f[2])?,
                None => {
                    return Err(Error::Setup(format!(
                        "unable to find group {g}: no matching entries in group file"
                    )))
                }
            },
        };
    }
    // Like runc, the primary group is also a supplementary group.
    let mut additional_gids = vec![gid];
    if let Some(n) = name {
        additional_gids.extend(
            groups
                .iter()
                .filter(|f| f[3].split(',').any(|m| m == n))
                .filter_map(|f| f[2].parse::<u32>().ok())
                .filter(|g| *g != gid),
        );
    }
    Ok(Identity {
        uid,
        gid,
        additional_gids,
        home,
    })
}

fn parse_id(s: &str) -> Result<u32> {
    s.parse().map_err(|_| {
        Error::Setup(format!(
            "invalid id {s:?} in the container's passwd/group file"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nwww:x:33:33::/var/www:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nwww:x:33:\nnogroup:x:65534:\nstaff:x:50:www,other\n";

    #[test]
    fn name_number_and_pairs() {
        let r = resolve_in(PASSWD, GROUP, "").unwrap();
        assert_eq!((r.uid, r.gid, r.home.as_str()), (0, 0, "/root"));
        let w = resolve_in(PASSWD, GROUP, "www").unwrap();
        assert_eq!(
            (w.uid, w.gid, w.additional_gids.clone()),
            (33, 33, vec![33, 50])
        );
        assert_eq!(w.home, "/var/www");
        let n = resolve_in(PASSWD, GROUP, "1234:5678").unwrap();
        assert_eq!((n.uid, n.gid, n.home.as_str()), (1234, 5678, "/"));
        let ng = resolve_in(PASSWD, GROUP, "nobody:staff").unwrap();
        assert_eq!((ng.uid, ng.gid), (65534, 50));
        let by_uid = resolve_in(PASSWD, GROUP, "33").unwrap();
        assert_eq!(by_uid.home, "/var/www");
    }

    #[test]
    fn unknown_names_are_errors() {
        let e = resolve_in(PASSWD, GROUP, "ghost").unwrap_err().to_string();
        assert!(e.contains("unable to find user ghost"), "{e}");
        let e = resolve_in(PASSWD, GROUP, "root:ghosts")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unable to find group ghosts"), "{e}");
    }
}
