//! Registry verbs: pull, push, login, logout, and the pull that `run` and
//! `create` do for a missing image.

use crate::args::*;
use anyhow::{bail, Context, Result};
use isola_engine::Engine;
use isola_registry::{Options, Platform, Progress};
use std::io::{IsTerminal, Read};

fn options(engine: &Engine, quiet: bool) -> Options {
    Options {
        insecure_registries: engine.insecure_registries().to_vec(),
        certs_dirs: Options::default_certs_dirs(engine.root()),
        progress: if quiet {
            Progress::Quiet
        } else {
            Progress::Auto
        },
    }
}

pub fn pull(engine: &Engine, a: &PullArgs) -> Result<i32> {
    if a.all_tags {
        let pulled = isola_registry::pull_all_tags(
            engine.images(),
            &a.image,
            a.platform.as_ref(),
            &options(engine, a.quiet),
        )?;
        for p in pulled {
            println!("{}", p.reference);
        }
        return Ok(0);
    }
    let pulled = isola_registry::pull(
        engine.images(),
        &a.image,
        a.platform.as_ref(),
        &options(engine, a.quiet),
    )?;
    engine.object_event("image", "pull", &pulled.reference, &pulled.reference);
    println!("{}", pulled.reference);
    Ok(0)
}

pub fn push(engine: &Engine, a: &PushArgs) -> Result<i32> {
    let digest = isola_registry::push(engine.images(), &a.image, &options(engine, a.quiet))?;
    if a.quiet {
        println!("{digest}");
    }
    Ok(0)
}

pub fn login(engine: &Engine, a: &LoginArgs) -> Result<i32> {
    let Some(user) = a.username.as_deref() else {
        bail!("login needs a user name: use -u USER --password-stdin");
    };
    if !a.password_stdin {
        bail!("login reads the password from stdin only: use --password-stdin (e.g. echo \"$TOKEN\" | isola login -u USER --password-stdin REGISTRY)");
    }
    if std::io::stdin().is_terminal() {
        bail!("--password-stdin: stdin is a terminal: pipe the password in");
    }
    let mut password = String::new();
    std::io::stdin()
        .read_to_string(&mut password)
        .context("reading the password from stdin")?;
    let password = password.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        bail!("--password-stdin: the password is empty");
    }
    isola_registry::login(a.server.as_deref(), user, password, &options(engine, true))?;
    println!("Login Succeeded");
    Ok(0)
}

pub fn logout(a: &LogoutArgs) -> Result<i32> {
    let server = a.server.as_deref().unwrap_or("docker.io");
    if isola_registry::logout(a.server.as_deref())? {
        println!("Removing login credentials for {server}");
    } else {
        println!("Not logged in to {server}");
    }
    Ok(0)
}

/// Pulls the image of `run`/`create` as `--pull` asks. The container's
/// output owns stdout, so only a short note goes to stderr, after the pull:
/// a failure stays one line.
pub fn pull_for_container(
    engine: &Engine,
    image: &str,
    policy: PullPolicy,
    platform: Option<&Platform>,
    quiet: bool,
) -> Result<()> {
    let present = engine.images().resolve(image).is_ok();
    let pull = match policy {
        PullPolicy::Never => false,
        PullPolicy::Missing => !present,
        PullPolicy::Always => true,
    };
    if !pull {
        return Ok(());
    }
    let pulled = isola_registry::pull(engine.images(), image, platform, &options(engine, true))?;
    engine.object_event("image", "pull", &pulled.reference, &pulled.reference);
    if !pulled.up_to_date && !quiet {
        eprintln!("Downloaded {} ({})", pulled.reference, pulled.digest);
    }
    Ok(())
}
