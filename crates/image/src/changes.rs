//! `isola import -c` instructions: the Dockerfile subset that makes sense
//! for a bare rootfs (what to run, its environment, directory and user).

use oci_spec::image::Config;

use crate::error::{Error, Result};

const SUPPORTED: &str = "supported: CMD, ENTRYPOINT, ENV, WORKDIR, USER, VOLUME, EXPOSE, LABEL";

/// Applies each instruction in order to `config`, so later ones override
/// earlier ones just as in a Dockerfile.
pub(crate) fn apply_changes(config: &mut Config, changes: &[String]) -> Result<()> {
    for change in changes {
        apply(config, change).map_err(|reason| Error::InvalidChange {
            change: change.clone(),
            reason,
        })?;
    }
    Ok(())
}

fn apply(config: &mut Config, change: &str) -> std::result::Result<(), String> {
    let change = change.trim();
    let (instruction, args) = change
        .split_once(char::is_whitespace)
        .unwrap_or((change, ""));
    let instruction = instruction.to_ascii_uppercase();
    let args = args.trim();
    let arg = || {
        if args.is_empty() {
            Err(format!("{instruction} needs an argument"))
        } else {
            Ok(args)
        }
    };
    match instruction.as_str() {
        "CMD" => {
            config.set_cmd(Some(command(arg()?)));
        }
        "ENTRYPOINT" => {
            config.set_entrypoint(Some(command(arg()?)));
        }
        "ENV" => {
            let mut env = config.env().clone().unwrap_or_default();
            for (key, value) in env_pairs(arg()?)? {
                env.retain(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) != key);
                env.push(format!("{key}={value}"));
            }
            config.set_env(Some(env));
        }
        "WORKDIR" => {
            let dir = arg()?;
            let dir = if dir.starts_with('/') {
                dir.to_string()
            } else {
                let base = config
                    .working_dir()
                    .clone()
                    .unwrap_or_else(|| "/".to_string());
                format!("{}/{dir}", base.trim_end_matches('/'))
            };
            config.set_working_dir(Some(dir));
        }
        "USER" => {
            let user = arg()?;
            if user.contains(char::is_whitespace) {
                return Err("USER takes a single user[:group]".to_string());
            }
            config.set_user(Some(user.to_string()));
        }
        "VOLUME" => {
            let mut vols = config.volumes().clone().unwrap_or_default();
            for v in list(arg()?) {
                if !v.starts_with('/') {
                    return Err(format!("VOLUME {v:?}: the path must be absolute"));
                }
                if !vols.contains(&v) {
                    vols.push(v);
                }
            }
            config.set_volumes(Some(vols));
        }
        "EXPOSE" => {
            let mut ports = config.exposed_ports().clone().unwrap_or_default();
            for p in list(arg()?) {
                let (num, proto) = p.split_once('/').unwrap_or((p.as_str(), "tcp"));
                if num.parse::<u16>().map_or(true, |n| n == 0)
                    || !["tcp", "udp", "sctp"].contains(&proto)
                {
                    return Err(format!("EXPOSE {p:?}: use PORT[/tcp|udp]"));
                }
                let p = format!("{num}/{proto}");
                if !ports.contains(&p) {
                    ports.push(p);
                }
            }
            config.set_exposed_ports(Some(ports));
        }
        "LABEL" => {
            let mut labels = config.labels().clone().unwrap_or_default();
            for (key, value) in env_pairs(arg()?)? {
                labels.insert(key, value);
            }
            config.set_labels(Some(labels));
        }
        _ => return Err(format!("unknown instruction {instruction:?}; {SUPPORTED}")),
    }
    Ok(())
}

/// `["/a", "/b"]` (JSON) or `/a /b`.
fn list(args: &str) -> Vec<String> {
    if args.starts_with('[') {
        if let Ok(v) = serde_json::from_str::<Vec<String>>(args) {
            return v;
        }
    }
    args.split_whitespace().map(str::to_string).collect()
}

/// Exec form (`["sh", "-c", "x"]`) is taken as is; anything else is shell
/// form and runs under `/bin/sh -c`, as in Docker.
fn command(args: &str) -> Vec<String> {
    if args.starts_with('[') {
        if let Ok(exec) = serde_json::from_str::<Vec<String>>(args) {
            return exec;
        }
    }
    vec!["/bin/sh".to_string(), "-c".to_string(), args.to_string()]
}

/// `ENV K=V K2="v 2"` or the legacy `ENV K some value`.
fn env_pairs(args: &str) -> std::result::Result<Vec<(String, String)>, String> {
    let (first, rest) = args.split_once(char::is_whitespace).unwrap_or((args, ""));
    if !first.contains('=') {
        return Ok(vec![(first.to_string(), rest.trim().to_string())]);
    }
    words(args)?
        .into_iter()
        .map(|word| match word.split_once('=') {
            Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
            _ => Err(format!("ENV expects KEY=VALUE pairs, got {word:?}")),
        })
        .collect()
}

/// Splits on unquoted whitespace, honouring "double", 'single' quotes and
/// backslash escapes, like Dockerfile ENV.
fn words(s: &str) -> std::result::Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"') | None, '\\') => {
                word.extend(chars.next());
                in_word = true;
            }
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err("unterminated quote".to_string());
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(changes: &[&str]) -> Result<Config> {
        let mut config = Config::default();
        let changes: Vec<String> = changes.iter().map(|c| c.to_string()).collect();
        apply_changes(&mut config, &changes)?;
        Ok(config)
    }

    fn strings(v: &[&str]) -> Option<Vec<String>> {
        Some(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn applies_exec_and_shell_forms() {
        let c = config(&[r#"CMD ["sh"]"#, "entrypoint /init --flag"]).unwrap();
        assert_eq!(c.cmd(), &strings(&["sh"]));
        assert_eq!(c.entrypoint(), &strings(&["/bin/sh", "-c", "/init --flag"]));
        let c = config(&["CMD sh -c x", "CMD [not json"]).unwrap();
        assert_eq!(c.cmd(), &strings(&["/bin/sh", "-c", "[not json"]));
    }

    #[test]
    fn applies_env_workdir_and_user() {
        let c = config(&[
            "ENV A=1 B=\"two words\" C=x\\ y",
            "ENV A=override",
            "ENV LEGACY some value",
            "WORKDIR /srv",
            "WORKDIR app",
            "USER 1000:1000",
        ])
        .unwrap();
        assert_eq!(
            c.env(),
            &strings(&["B=two words", "C=x y", "A=override", "LEGACY=some value"])
        );
        assert_eq!(c.working_dir().as_deref(), Some("/srv/app"));
        assert_eq!(c.user().as_deref(), Some("1000:1000"));
    }

    #[test]
    fn rejects_unknown_or_malformed_instructions() {
        for (bad, needle) in [
            ("RUN apt-get update", "unknown instruction \"RUN\""),
            ("CMD", "CMD needs an argument"),
            ("ENV A=1 =2", "KEY=VALUE"),
            ("ENV A=\"open", "unterminated quote"),
            ("USER a b", "single"),
        ] {
            let err = config(&[bad]).unwrap_err().to_string();
            assert!(
                err.contains(&format!("{bad:?}")) && err.contains(needle),
                "{bad}: {err}"
            );
        }
    }
}
