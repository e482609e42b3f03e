//! The runtime's one error type: each message names what was wrong and,
//! where the caller can act, what to do.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("container {0} does not exist")]
    NotFound(String),
    #[error("container {0} already exists: delete it first or choose another id")]
    Exists(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0} is not supported by isola-runtime")]
    Unsupported(String),
    #[error("container {id} is {status}: {what}")]
    State {
        id: String,
        status: &'static str,
        what: &'static str,
    },
    #[error(transparent)]
    Process(#[from] isola_runtime_process::Error),
    #[error(transparent)]
    Vm(#[from] isola_runtime_vm::Error),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

pub type Result<T> = std::result::Result<T, Error>;

pub fn io_err(context: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.to_string();
    move |source| Error::Io { context, source }
}
