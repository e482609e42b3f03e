//! `/networks/...` and `/volumes/...`: the engine's networks and volumes in
//! Docker's shapes (the documents are the engine's, as `isola network
//! inspect` and `isola volume inspect` print them).

use crate::http::{blocking, flag, json, no_content, query, read_json, ApiError, Reply, Result};
use crate::routes::State;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde::Deserialize;
use std::collections::BTreeMap;

pub(crate) async fn network_list(s: &State) -> Result<Reply> {
    let engine = s.engine.clone();
    let docs = blocking(move || {
        let mut out = Vec::new();
        for n in engine
            .networks()
            .list()
            .map_err(isola_engine::Error::from)?
        {
            out.push(engine.network_inspect(&n.name)?);
        }
        Ok(out)
    })
    .await?;
    Ok(json(StatusCode::OK, &docs))
}

pub(crate) async fn network_inspect(s: &State, id: &str) -> Result<Reply> {
    let engine = s.engine.clone();
    let id = id.to_string();
    let doc = blocking(move || Ok(engine.network_inspect(&id)?)).await?;
    Ok(json(StatusCode::OK, &doc))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct IpamConfig {
    subnet: Option<String>,
    gateway: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Ipam {
    #[serde(default)]
    config: Option<Vec<IpamConfig>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct NetworkCreate {
    name: String,
    driver: Option<String>,
    #[serde(default)]
    internal: bool,
    #[serde(rename = "IPAM")]
    ipam: Option<Ipam>,
    labels: Option<BTreeMap<String, String>>,
}

pub(crate) async fn network_create(s: &State, req: Request<Incoming>) -> Result<Reply> {
    let body: NetworkCreate = read_json(req.into_body()).await?;
    if body.name.is_empty() {
        return Err(ApiError::bad("network create needs a Name"));
    }
    if let Some(d) = body
        .driver
        .as_deref()
        .filter(|d| !d.is_empty() && *d != "bridge")
    {
        return Err(ApiError::bad(format!(
            "network driver {d:?} is not supported: use bridge"
        )));
    }
    let first = body
        .ipam
        .and_then(|i| i.config)
        .and_then(|c| c.into_iter().next())
        .unwrap_or_default();
    let req = isola_engine::NewNetwork {
        name: body.name,
        subnet: first.subnet,
        gateway: first.gateway,
        internal: body.internal,
        labels: body.labels.unwrap_or_default(),
        created: String::new(),
    };
    let engine = s.engine.clone();
    let n = blocking(move || Ok(engine.network_create(req)?)).await?;
    Ok(json(
        StatusCode::CREATED,
        &serde_json::json!({"Id": n.id, "Warning": ""}),
    ))
}

pub(crate) async fn network_remove(s: &State, id: &str) -> Result<Reply> {
    let engine = s.engine.clone();
    let id = id.to_string();
    blocking(move || Ok(engine.network_remove(&id)?)).await?;
    Ok(no_content())
}

pub(crate) async fn network_prune(s: &State) -> Result<Reply> {
    let engine = s.engine.clone();
    let removed = blocking(move || Ok(engine.network_prune()?)).await?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "NetworksDeleted": removed }),
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EndpointIpam {
    #[serde(rename = "IPv4Address")]
    ipv4_address: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EndpointConfig {
    #[serde(rename = "IPAMConfig")]
    ipam_config: Option<EndpointIpam>,
    aliases: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Connect {
    container: String,
    endpoint_config: Option<EndpointConfig>,
}

pub(crate) async fn network_connect(
    s: &State,
    id: &str,
    req: Request<Incoming>,
    connect: bool,
) -> Result<Reply> {
    let body: Connect = read_json(req.into_body()).await?;
    let engine = s.engine.clone();
    let net = id.to_string();
    blocking(move || {
        let c = engine.lookup(&body.container)?;
        if connect {
            let ep = body.endpoint_config.unwrap_or_default();
            let ip = ep.ipam_config.and_then(|i| i.ipv4_address);
            engine.network_connect(&c, &net, ip.as_deref(), &ep.aliases.unwrap_or_default())?;
        } else {
            engine.network_disconnect(&c, &net)?;
        }
        Ok(())
    })
    .await?;
    Ok(crate::http::reply(
        StatusCode::OK,
        "",
        crate::http::empty_body(),
    ))
}

pub(crate) async fn volume_list(s: &State) -> Result<Reply> {
    let engine = s.engine.clone();
    let list = blocking(move || Ok(engine.volume_list())).await?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "Volumes": list, "Warnings": [] }),
    ))
}

pub(crate) async fn volume_inspect(s: &State, name: &str) -> Result<Reply> {
    let engine = s.engine.clone();
    let name = name.to_string();
    let v = blocking(move || Ok(engine.volume_inspect(&name)?)).await?;
    Ok(json(StatusCode::OK, &v))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct VolumeCreate {
    name: Option<String>,
    driver: Option<String>,
    labels: Option<BTreeMap<String, String>>,
}

pub(crate) async fn volume_create(s: &State, req: Request<Incoming>) -> Result<Reply> {
    let body: VolumeCreate = read_json(req.into_body()).await?;
    if let Some(d) = body
        .driver
        .as_deref()
        .filter(|d| !d.is_empty() && *d != "local")
    {
        return Err(ApiError::bad(format!(
            "volume driver {d:?} is not supported: use local"
        )));
    }
    let labels: Vec<String> = body
        .labels
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let engine = s.engine.clone();
    let name = body.name.filter(|n| !n.is_empty());
    let v = blocking(move || Ok(engine.volume_create(name.as_deref(), &labels)?)).await?;
    Ok(json(StatusCode::CREATED, &v))
}

pub(crate) async fn volume_remove(s: &State, name: &str) -> Result<Reply> {
    let engine = s.engine.clone();
    let name = name.to_string();
    blocking(move || Ok(engine.volume_remove(&name)?)).await?;
    Ok(no_content())
}

pub(crate) async fn volume_prune(s: &State, req: &Request<Incoming>) -> Result<Reply> {
    let q = query(req.uri().query());
    // Docker 23+: anonymous volumes only, unless the filter all=true.
    let all = crate::http::filters(&q)?
        .iter()
        .any(|f| f == "all=true" || f == "all=1")
        || flag(&q, "all");
    let engine = s.engine.clone();
    let removed = blocking(move || Ok(engine.volume_prune(all)?)).await?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "VolumesDeleted": removed, "SpaceReclaimed": 0 }),
    ))
}
