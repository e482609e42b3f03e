//! `isola import -c` / `commit -c` instructions: every Dockerfile
//! instruction Docker accepts there (what to run, its environment,
//! directory and user, metadata, ONBUILD triggers and the health check).

use oci_spec::image::Config;

use crate::error::{Error, Result};

const SUPPORTED: &str = "supported: CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR";

/// Applies each instruction in order to `config`, so later ones override
/// earlier ones just as in a Dockerfile. Returns the image config's `config`
/// as JSON: the OCI fields plus Docker's own (`OnBuild`, `Healthcheck`),
/// which the OCI type has no place for.
pub(crate) fn apply_changes(config: &mut Config, changes: &[String]) -> Result<serde_json::Value> {
    let mut docker = serde_json::Map::new();
    for change in changes {
        apply(config, &mut docker, change).map_err(|reason| Error::InvalidChange {
            change: change.clone(),
            reason,
        })?;
    }
    let mut out = serde_json::to_value(&*config).unwrap_or_else(|_| serde_json::json!({}));
    if let Some(o) = out.as_object_mut() {
        o.extend(docker);
    }
    Ok(out)
}

/// `HEALTHCHECK [--interval=D] [--timeout=D] [--start-period=D] [--retries=N] CMD ...`
/// or `HEALTHCHECK NONE`, as Docker records it (durations in nanoseconds).
fn healthcheck(args: &str) -> std::result::Result<serde_json::Value, String> {
    let mut h = serde_json::Map::new();
    let mut rest = args.trim();
    while let Some(opt) = rest.strip_prefix("--") {
        let (flag, after) = opt.split_once(char::is_whitespace).unwrap_or((opt, ""));
        let (key, value) = flag
            .split_once('=')
            .ok_or_else(|| format!("HEALTHCHECK --{flag}: use --{flag}=VALUE"))?;
        let field = match key {
            "interval" => "Interval",
            "timeout" => "Timeout",
            "start-period" => "StartPeriod",
            "start-interval" => "StartInterval",
            "retries" => "Retries",
            _ => return Err(format!("HEALTHCHECK: unknown option --{key}")),
        };
        let v = if field == "Retries" {
            value
                .parse::<u64>()
                .map_err(|_| format!("HEALTHCHECK --retries={value}: use a number"))?
        } else {
            humantime::parse_duration(value)
                .map_err(|e| format!("HEALTHCHECK --{key}={value}: {e}"))?
                .as_nanos() as u64
        };
        h.insert(field.into(), v.into());
        rest = after.trim_start();
    }
    let (kind, cmd) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let test = match kind.to_ascii_uppercase().as_str() {
        "NONE" => serde_json::json!(["NONE"]),
        "CMD" if cmd.trim().starts_with('[') => {
            let argv: Vec<String> =
                serde_json::from_str(cmd.trim()).map_err(|e| format!("HEALTHCHECK CMD: {e}"))?;
            serde_json::json!(std::iter::once("CMD".to_string())
                .chain(argv)
                .collect::<Vec<_>>())
        }
        "CMD" if !cmd.trim().is_empty() => serde_json::json!(["CMD-SHELL", cmd.trim()]),
        _ => return Err("HEALTHCHECK takes CMD command or NONE".into()),
    };
    h.insert("Test".into(), test);
    Ok(serde_json::Value::Object(h))
}

fn apply(
    config: &mut Config,
    docker: &mut serde_json::Map<String, serde_json::Value>,
    change: &str,
) -> std::result::Result<(), String> {
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
        "STOPSIGNAL" => {
            config.set_stop_signal(Some(arg()?.to_string()));
        }
        "ONBUILD" => {
            let trigger = arg()?;
            let first = trigger
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_uppercase();
            if matches!(first.as_str(), "ONBUILD" | "FROM" | "MAINTAINER") {
                return Err(format!("{first} isn't allowed as an ONBUILD trigger"));
            }
            let list = docker
                .entry("OnBuild")
                .or_insert_with(|| serde_json::json!([]));
            if let Some(a) = list.as_array_mut() {
                a.push(trigger.into());
            }
        }
        "HEALTHCHECK" => {
            docker.insert("Healthcheck".into(), healthcheck(arg()?)?);
        }
        _ => {
            return Err(format!(
                "{instruction} is not a valid change command; {SUPPORTED}"
            ))
        }
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
    fn docker_only_fields_go_beside_the_oci_ones() {
        let changes: Vec<String> = [
            "STOPSIGNAL SIGINT",
            "ONBUILD RUN true",
            "HEALTHCHECK --interval=5s --retries=2 CMD test -f /ok",
        ]
        .iter()
        .map(|c| c.to_string())
        .collect();
        let mut c = Config::default();
        let v = apply_changes(&mut c, &changes).unwrap();
        assert_eq!(v["StopSignal"], "SIGINT");
        assert_eq!(v["OnBuild"], serde_json::json!(["RUN true"]));
        assert_eq!(
            v["Healthcheck"],
            serde_json::json!({"Test": ["CMD-SHELL", "test -f /ok"], "Interval": 5_000_000_000u64, "Retries": 2})
        );
    }

    #[test]
    fn rejects_unknown_or_malformed_instructions() {
        for (bad, needle) in [
            ("RUN apt-get update", "RUN is not a valid change command"),
            ("FROM x", "FROM is not a valid change command"),
            ("HEALTHCHECK", "HEALTHCHECK needs an argument"),
            ("ONBUILD FROM x", "isn't allowed"),
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
