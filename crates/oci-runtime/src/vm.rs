//! VM isolation (see below).
use crate::backend::{Backend, Created, NewContainer};
use crate::error::{Error, Result};
use crate::store::Record;
use isola_runtime_process::{Limits, Stdio};
use nix::sys::signal::Signal;
use oci_spec::runtime::Spec;

pub struct VmBackend;

impl Backend for VmBackend {
    fn create(&self, _new: NewContainer<'_>) -> Result<Created> {
        Err(Error::Unsupported("VM mode".into()))
    }
    fn kill(&self, _rec: &Record, _signal: Signal, _all: bool) -> Result<()> {
        Err(Error::Unsupported("VM mode".into()))
    }
    fn exec(&self, _rec: &Record, _spec: &Spec, _stdio: Stdio) -> Result<Created> {
        Err(Error::Unsupported("VM mode".into()))
    }
    fn ps(&self, _rec: &Record) -> Vec<i32> {
        Vec::new()
    }
    fn paused(&self, _rec: &Record) -> bool {
        false
    }
    fn freeze(&self, _rec: &Record, _frozen: bool) -> Result<()> {
        Err(Error::Unsupported("VM mode".into()))
    }
    fn update(&self, _rec: &Record, _limits: &Limits) -> Result<()> {
        Err(Error::Unsupported("VM mode".into()))
    }
    fn stats(&self, _rec: &Record) -> serde_json::Value {
        serde_json::json!({})
    }
    fn cleanup(&self, _rec: &Record) -> Result<()> {
        Ok(())
    }
}
