//! The command line, in Docker's shape: same verbs, same flags.

use clap::{ArgAction, Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "isola",
    version,
    about = "Run OCI containers with process or micro-VM isolation",
    disable_help_subcommand = true
)]
pub struct Cli {
    /// State directory (images, containers, logs)
    #[arg(
        long,
        global = true,
        env = "ISOLA_ROOT",
        default_value = "/var/lib/isola"
    )]
    pub root: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create and run a new container from an image
    Run(RunArgs),
    /// Create a new container
    Create(CreateArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// List containers
    #[command(alias = "ls")]
    Ps(PsArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Remove one or more containers
    Rm(RmArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(ContainersArgs),
    /// Return low-level information on containers and images
    Inspect(InspectArgs),
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// Display system-wide information (isolation modes, cgroups, kernel)
    Info(InfoArgs),
    /// Show the isola version information
    Version(VersionArgs),
    /// Manage containers
    #[command(subcommand)]
    Container(ContainerCommand),
    /// List images
    Images(ImagesArgs),
    /// Remove one or more images
    Rmi(RmiArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Manage images
    #[command(subcommand)]
    Image(ImageCommand),
    /// Import the contents from a tarball (or a directory) to create a filesystem image
    Import(ImportArgs),
    /// Load an image from a tar archive or STDIN (`docker save` or OCI layout)
    Load(LoadArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PushArgs),
    /// Authenticate to a registry (credentials kept in Docker's config.json)
    Login(LoginArgs),
    /// Log out from a registry
    Logout(LogoutArgs),
    /// Manage volumes
    #[command(subcommand)]
    Volume(VolumeCommand),
    /// Copy files/folders between a container and the local filesystem (`-`: a tar on stdin/stdout)
    Cp(CpArgs),
    /// Export a container's filesystem as a tar archive
    Export(ExportArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(DiffArgs),
    /// Create a new image from a container's changes
    Commit(CommitArgs),
    /// Manage networks
    #[command(subcommand)]
    Network(NetworkCommand),
    /// List port mappings or a specific mapping for the container
    Port(PortArgs),
    // --- issue 13's everyday verbs (branch `verbs`) ---
    /// Rename a container
    Rename(RenameArgs),
    /// Restart one or more containers
    Restart(RestartArgs),
    /// Pause all processes within one or more containers
    Pause(ContainersArgs),
    /// Unpause all processes within one or more containers
    Unpause(ContainersArgs),
    /// Update configuration of one or more containers
    Update(UpdateArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(StatsArgs),
    /// Get real time events from the engine
    Events(EventsArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(AttachArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Manage isola
    #[command(subcommand)]
    System(SystemCommand),
    // --- end of issue 13's verbs ---
    /// The per-container monitor (started by isola itself)
    #[command(name = "__monitor", hide = true)]
    Monitor(MonitorArgs),
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Platform to pull from a multi-platform image: os/arch[/variant] (default: this host's)
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<isola_registry::Platform>,
    /// Pull every tag of the repository
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    /// Print only the image reference
    #[arg(short, long)]
    pub quiet: bool,
    /// NAME[:TAG|@DIGEST]
    pub image: String,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// Print only the pushed digest
    #[arg(short, long)]
    pub quiet: bool,
    /// NAME[:TAG]
    pub image: String,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// User name
    #[arg(short, long)]
    pub username: Option<String>,
    /// Read the password from stdin (the only way: passwords never go in arguments)
    #[arg(long = "password-stdin")]
    pub password_stdin: bool,
    /// Registry host[:port] (default: Docker Hub)
    pub server: Option<String>,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// Registry host[:port] (default: Docker Hub)
    pub server: Option<String>,
}

/// When `run` and `create` pull the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PullPolicy {
    /// Pull when the image is not in the store
    Missing,
    /// Always pull
    Always,
    /// Never pull
    Never,
}

#[derive(Debug, Args)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short, long)]
    pub archive: bool,
    /// CONTAINER:SRC_PATH, or a host path, or - (a tar on stdin)
    pub source: String,
    /// CONTAINER:DEST_PATH, or a host path, or - (a tar on stdout)
    pub destination: String,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    pub container: String,
}

#[derive(Debug, Args)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short, long)]
    pub author: Option<String>,
    /// Commit message
    #[arg(short, long)]
    pub message: Option<String>,
    /// Apply Dockerfile instruction to the created image (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR, HEALTHCHECK)
    #[arg(short, long = "change")]
    pub change: Vec<String>,
    /// Accepted for Docker compatibility: isola does not pause (see README)
    #[arg(short, long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub pause: bool,
    pub container: String,
    /// REPOSITORY[:TAG]
    pub reference: Option<String>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long)]
    pub output: Option<std::path::PathBuf>,
    pub container: String,
}

#[derive(Debug, Subcommand)]
pub enum VolumeCommand {
    /// Create a volume (a random name without NAME)
    Create(VolumeCreateArgs),
    /// List volumes
    #[command(alias = "list")]
    Ls(VolumeLsArgs),
    /// Show volumes as JSON
    Inspect(VolumeNamesArgs),
    /// Remove volumes (refused while a container uses them)
    #[command(alias = "remove")]
    Rm(VolumeRmArgs),
    /// Remove unused anonymous volumes (all unused ones with --all)
    Prune(VolumePruneArgs),
}

#[derive(Debug, Args)]
pub struct VolumeCreateArgs {
    /// Set metadata on the volume (KEY=VALUE)
    #[arg(long)]
    pub label: Vec<String>,
    /// Volume driver (only "local")
    #[arg(short, long, default_value = "local")]
    pub driver: String,
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct VolumeLsArgs {
    /// Only display volume names
    #[arg(short, long)]
    pub quiet: bool,
    /// Provide filter values (e.g. "dangling=true"): name=, driver=, label=, dangling=
    #[arg(short, long = "filter", value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
    /// Format output using a custom template: 'table', 'table TEMPLATE', 'json', or a Go template
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct VolumeNamesArgs {
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct VolumeRmArgs {
    /// Accepted for Docker compatibility; volumes in use are still refused
    #[arg(short, long)]
    pub force: bool,
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct VolumePruneArgs {
    /// Remove all unused volumes, not only anonymous ones
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt (isola never prompts)
    #[arg(short, long)]
    pub force: bool,
}

#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Create a bridge network
    Create(NetworkCreateArgs),
    /// List networks
    #[command(alias = "list")]
    Ls(NetworkLsArgs),
    /// Show networks as JSON
    Inspect(NetworkInspectArgs),
    /// Remove networks (refused while a container uses one)
    #[command(alias = "remove")]
    Rm(NetworkNamesArgs),
    /// Remove every network no container uses
    Prune(NetworkPruneArgs),
    /// Attach a container to a network
    Connect(NetworkConnectArgs),
    /// Detach a container from a network
    Disconnect(NetworkDisconnectArgs),
}

#[derive(Debug, Args)]
pub struct NetworkCreateArgs {
    /// Subnet in CIDR form (default: the next free 10.89.N.0/24)
    #[arg(long)]
    pub subnet: Option<String>,
    /// Gateway (default: the subnet's first address)
    #[arg(long)]
    pub gateway: Option<String>,
    /// No outbound access (no NAT, no published ports)
    #[arg(long)]
    pub internal: bool,
    /// Driver (only bridge)
    #[arg(short, long, default_value = "bridge")]
    pub driver: String,
    /// Set metadata (KEY=VALUE)
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub label: Vec<String>,
    pub name: String,
}

#[derive(Debug, Args)]
pub struct NetworkLsArgs {
    /// Only print network ids
    #[arg(short, long)]
    pub quiet: bool,
    /// Do not truncate ids
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Provide filter values (e.g. "driver=bridge"): name=, id=, driver=, label=
    #[arg(short, long = "filter", value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
    /// Format output using a custom template: 'table', 'table TEMPLATE', 'json', or a Go template
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct NetworkInspectArgs {
    /// Format output using a custom template: 'json', or a Go template
    #[arg(short, long)]
    pub format: Option<String>,
    #[arg(required = true)]
    pub networks: Vec<String>,
}

#[derive(Debug, Args)]
pub struct NetworkNamesArgs {
    #[arg(required = true)]
    pub networks: Vec<String>,
}

#[derive(Debug, Args)]
pub struct NetworkPruneArgs {
    /// Do not ask (isola never asks)
    #[arg(short, long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct NetworkConnectArgs {
    /// DNS name of the container on this network
    #[arg(long = "alias", value_name = "ALIAS")]
    pub alias: Vec<String>,
    /// IPv4 address on this network
    #[arg(long, value_name = "IP")]
    pub ip: Option<String>,
    pub network: String,
    pub container: String,
}

#[derive(Debug, Args)]
pub struct NetworkDisconnectArgs {
    /// Ignored (Docker's flag)
    #[arg(short, long)]
    pub force: bool,
    pub network: String,
    pub container: String,
}

#[derive(Debug, Args)]
pub struct PortArgs {
    pub container: String,
    /// PORT[/PROTO]: only this container port
    pub port: Option<String>,
}

// --- Command groups (`container ...`, `image ...`) -------------------------
// Each group's verb is the top-level verb under another name: a variant here
// and one line in `into_command`, so a new verb joins its group in one line.

#[derive(Debug, Subcommand)]
pub enum ContainerCommand {
    /// Create and run a new container from an image
    Run(RunArgs),
    /// Create a new container
    Create(CreateArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// List containers
    #[command(visible_aliases = ["list", "ps"])]
    Ls(PsArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Remove one or more containers
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(ContainersArgs),
    /// Display detailed information on one or more containers
    Inspect(InspectArgs),
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(CpArgs),
    /// Export a container's filesystem as a tar archive
    Export(ExportArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(DiffArgs),
    /// Create a new image from a container's changes
    Commit(CommitArgs),
    /// List port mappings or a specific mapping for the container
    Port(PortArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Restart one or more containers
    Restart(RestartArgs),
    /// Pause all processes within one or more containers
    Pause(ContainersArgs),
    /// Unpause all processes within one or more containers
    Unpause(ContainersArgs),
    /// Update configuration of one or more containers
    Update(UpdateArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(StatsArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(AttachArgs),
    /// Remove all stopped containers
    Prune(ContainerPruneArgs),
}

impl ContainerCommand {
    /// The top-level verb this is another name of.
    pub fn into_command(self) -> Command {
        use ContainerCommand as C;
        match self {
            C::Run(a) => Command::Run(a),
            C::Create(a) => Command::Create(a),
            C::Start(a) => Command::Start(a),
            C::Ls(a) => Command::Ps(a),
            C::Top(a) => Command::Top(a),
            C::Logs(a) => Command::Logs(a),
            C::Stop(a) => Command::Stop(a),
            C::Kill(a) => Command::Kill(a),
            C::Rm(a) => Command::Rm(a),
            C::Wait(a) => Command::Wait(a),
            C::Inspect(a) => Command::Inspect(InspectArgs {
                kind: Some("container".into()),
                ..a
            }),
            C::Exec(a) => Command::Exec(a),
            C::Cp(a) => Command::Cp(a),
            C::Export(a) => Command::Export(a),
            C::Diff(a) => Command::Diff(a),
            C::Commit(a) => Command::Commit(a),
            C::Port(a) => Command::Port(a),
            C::Rename(a) => Command::Rename(a),
            C::Restart(a) => Command::Restart(a),
            C::Pause(a) => Command::Pause(a),
            C::Unpause(a) => Command::Unpause(a),
            C::Update(a) => Command::Update(a),
            C::Stats(a) => Command::Stats(a),
            C::Attach(a) => Command::Attach(a),
            // No top-level verb: dispatched as a group verb.
            C::Prune(a) => Command::Container(C::Prune(a)),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Display detailed information on one or more images
    Inspect(InspectArgs),
    /// List images
    #[command(visible_alias = "list")]
    Ls(ImagesArgs),
    /// Remove one or more images
    #[command(visible_alias = "remove")]
    Rm(RmiArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PushArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Remove unused images
    Prune(ImagePruneArgs),
}

impl ImageCommand {
    /// The top-level verb this is another name of.
    pub fn into_command(self) -> Command {
        use ImageCommand as I;
        match self {
            I::Inspect(a) => Command::Inspect(InspectArgs {
                kind: Some("image".into()),
                ..a
            }),
            I::Ls(a) => Command::Images(a),
            I::Rm(a) => Command::Rmi(a),
            I::Tag(a) => Command::Tag(a),
            I::Import(a) => Command::Import(a),
            I::Load(a) => Command::Load(a),
            I::Save(a) => Command::Save(a),
            I::Pull(a) => Command::Pull(a),
            I::Push(a) => Command::Push(a),
            I::History(a) => Command::History(a),
            // No top-level verb: dispatched as a group verb.
            I::Prune(a) => Command::Image(I::Prune(a)),
        }
    }
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Format output using a custom template: 'json', or a Go template
    #[arg(short, long)]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Format output using a custom template: 'json', or a Go template
    #[arg(short, long)]
    pub format: Option<String>,
}
// --- end of command groups --------------------------------------------------

/// `--isolation` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum IsolationArg {
    /// Namespaces, cgroups, capabilities and seccomp on the host kernel
    Process,
    /// A micro-VM with its own guest kernel
    Vm,
    /// Alias of vm (Windows' name)
    Hyperv,
    /// The host's setting (config.toml or ISOLA_DEFAULT_ISOLATION)
    Default,
}

impl IsolationArg {
    pub fn as_str(self) -> &'static str {
        match self {
            IsolationArg::Process => "process",
            IsolationArg::Vm => "vm",
            IsolationArg::Hyperv => "hyperv",
            IsolationArg::Default => "default",
        }
    }
}

/// Flags shared by `create` and `run`.
#[derive(Debug, Args)]
pub struct ContainerFlags {
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,
    /// Automatically remove the container and its associated anonymous volumes when it exits
    #[arg(long)]
    pub rm: bool,
    /// Set environment variables (KEY=VALUE, or KEY to copy it from here)
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
    /// Working directory inside the container
    #[arg(short, long = "workdir")]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short, long)]
    pub user: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Container host name
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Memory limit (e.g. 64m, 1g); in VM mode also the guest's RAM
    #[arg(short, long, value_parser = crate::units::parse_memory)]
    pub memory: Option<u64>,
    /// Number of CPUs (e.g. 0.5)
    #[arg(long, value_parser = crate::units::parse_cpus)]
    pub cpus: Option<u64>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Network: bridge (default), none, host (process isolation), container:<name|id>, or a network's name
    #[arg(long = "network", alias = "net", value_name = "NETWORK")]
    pub network: Option<String>,
    /// DNS name of the container on its user-defined network
    #[arg(long = "network-alias", alias = "net-alias", value_name = "ALIAS")]
    pub network_alias: Vec<String>,
    /// IPv4 address on a user-defined network
    #[arg(long, value_name = "IP")]
    pub ip: Option<String>,
    /// Publish a container's port(s) to the host: [ip:][hostPort:]containerPort[/tcp|udp]
    #[arg(short = 'p', long = "publish", value_name = "PORT")]
    pub publish: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host", value_name = "NAME:IP")]
    pub add_host: Vec<String>,
    /// Set custom DNS servers
    #[arg(long, value_name = "IP")]
    pub dns: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long = "dns-search", value_name = "DOMAIN")]
    pub dns_search: Vec<String>,
    /// Container isolation technology (default: the host's setting)
    #[arg(long, value_enum)]
    pub isolation: Option<IsolationArg>,
    /// Add Linux capabilities (e.g. NET_ADMIN, or ALL)
    #[arg(long = "cap-add", value_name = "CAP")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities (e.g. NET_RAW, or ALL)
    #[arg(long = "cap-drop", value_name = "CAP")]
    pub cap_drop: Vec<String>,
    /// Give extended privileges to this container (in VM mode: inside the guest only)
    #[arg(long)]
    pub privileged: bool,
    /// Security Options: seccomp=FILE, seccomp=unconfined, no-new-privileges
    #[arg(long = "security-opt", value_name = "OPT")]
    pub security_opt: Vec<String>,
    /// Set meta data on a container (KEY=VALUE)
    #[arg(short = 'l', long = "label", value_name = "KEY=VALUE")]
    pub label: Vec<String>,
    /// Read in a line delimited file of labels
    #[arg(long = "label-file", value_name = "FILE")]
    pub label_file: Vec<PathBuf>,
    /// Signal to stop the container (default SIGTERM)
    #[arg(long = "stop-signal", value_name = "SIGNAL", value_parser = crate::units::signal_name)]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container (default 10)
    #[arg(
        long = "stop-timeout",
        value_name = "SECONDS",
        allow_hyphen_values = true
    )]
    pub stop_timeout: Option<i64>,
    /// Write the container ID to the file (which must not exist)
    #[arg(long, value_name = "FILE")]
    pub cidfile: Option<PathBuf>,
    /// Add a host device to the container (in VM mode: a device of the guest) HOST[:CONTAINER[:rwm]]
    #[arg(long, value_name = "DEVICE")]
    pub device: Vec<String>,
    /// Sysctl options (KEY=VALUE, namespaced ones)
    #[arg(long, value_name = "KEY=VALUE")]
    pub sysctl: Vec<String>,
    /// Size of /dev/shm (e.g. 64m)
    #[arg(long = "shm-size", value_name = "SIZE", value_parser = crate::units::parse_memory)]
    pub shm_size: Option<u64>,
    /// Ulimit options NAME=SOFT[:HARD] (e.g. nofile=1024:2048)
    #[arg(long, value_name = "ULIMIT")]
    pub ulimit: Vec<String>,
    /// Add additional groups to join (names or numbers)
    #[arg(long = "group-add", value_name = "GROUP")]
    pub group_add: Vec<String>,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    pub init: bool,
    /// Bind mount a volume: [HOST-PATH|NAME:]CONTAINER-PATH[:ro|rw|z|nocopy|rprivate...]
    #[arg(short = 'v', long = "volume", value_name = "[SRC:]DST[:OPTS]")]
    pub volume: Vec<String>,
    /// Attach a filesystem mount to the container: type=bind|volume|tmpfs,source=,target=[,readonly][,...]
    #[arg(long = "mount", value_name = "type=...,target=...")]
    pub mount: Vec<String>,
    /// Mount a tmpfs directory: PATH[:size=64m,mode=1777,exec,...]
    #[arg(long = "tmpfs", value_name = "PATH[:OPTS]")]
    pub tmpfs: Vec<String>,
    /// Restart policy to apply when a container exits: no, on-failure[:MAX-RETRIES], always, unless-stopped
    #[arg(long, value_name = "POLICY", default_value = "no", value_parser = parse_restart)]
    pub restart: isola_engine::RestartPolicy,
    /// Command to run to check health (run with /bin/sh -c)
    #[arg(long = "health-cmd", value_name = "COMMAND")]
    pub health_cmd: Option<String>,
    /// Time between running the check (e.g. 30s, 1m30s; default 30s)
    #[arg(long = "health-interval", value_name = "DURATION", value_parser = parse_duration)]
    pub health_interval: Option<std::time::Duration>,
    /// Maximum time to allow one check to run (default 30s)
    #[arg(long = "health-timeout", value_name = "DURATION", value_parser = parse_duration)]
    pub health_timeout: Option<std::time::Duration>,
    /// Consecutive failures needed to report unhealthy (default 3)
    #[arg(long = "health-retries", value_name = "N", allow_hyphen_values = true, value_parser = parse_retries)]
    pub health_retries: Option<u32>,
    /// Start period for the container to initialize before starting health-retries countdown (default 0s)
    #[arg(long = "health-start-period", value_name = "DURATION", value_parser = parse_duration)]
    pub health_start_period: Option<std::time::Duration>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long = "no-healthcheck")]
    pub no_healthcheck: bool,
    /// Pull image before running: missing, always or never
    #[arg(long, value_enum, default_value = "missing")]
    pub pull: PullPolicy,
    /// Platform to pull the image for, if it is pulled: os/arch[/variant]
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<isola_registry::Platform>,
    /// Suppress the pull output
    #[arg(short, long)]
    pub quiet: bool,
    /// PID namespace to use: host, or container:NAME|ID
    #[arg(long, value_name = "NAMESPACE")]
    pub pid: Option<String>,
    /// IPC mode to use: private, shareable, host, or container:NAME|ID
    #[arg(long, value_name = "MODE")]
    pub ipc: Option<String>,
    /// UTS namespace to use: host
    #[arg(long, value_name = "NAMESPACE")]
    pub uts: Option<String>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long = "memory-swap", value_name = "BYTES", allow_hyphen_values = true, value_parser = parse_memory_swap)]
    pub memory_swap: Option<i64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares", value_name = "N")]
    pub cpu_shares: Option<u64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus", value_name = "CPUS")]
    pub cpuset_cpus: Option<String>,
    /// Disable OOM Killer
    #[arg(long = "oom-kill-disable")]
    pub oom_kill_disable: bool,
    /// Expose a port or a range of ports
    #[arg(long, value_name = "PORT")]
    pub expose: Vec<String>,
    /// Print help
    #[arg(long, action = ArgAction::Help)]
    pub help: Option<bool>,
    /// Image to run
    pub image: String,
    /// Command and arguments (default: the image's)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Run container in background and print container ID
    #[arg(short, long)]
    pub detach: bool,
    /// Attach to STDIN, STDOUT or STDERR (default: stdout and stderr, and stdin with -i)
    #[arg(
        short = 'a',
        long = "attach",
        value_enum,
        value_name = "STREAM",
        conflicts_with = "detach"
    )]
    pub attach: Vec<StreamArg>,
    /// Proxy received signals to the process
    #[arg(long = "sig-proxy", default_value_t = true, action = ArgAction::Set, value_name = "BOOL")]
    pub sig_proxy: bool,
    #[command(flatten)]
    pub flags: ContainerFlags,
}

/// `-a/--attach` streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StreamArg {
    Stdin,
    Stdout,
    Stderr,
}

#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct CreateArgs {
    #[command(flatten)]
    pub flags: ContainerFlags,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short, long)]
    pub attach: bool,
    /// Attach container's STDIN
    #[arg(short, long)]
    pub interactive: bool,
    /// Start every stopped container whose restart policy brings it back
    /// after a host reboot: always, and unless-stopped unless the user
    /// stopped it (for a boot-time systemd unit)
    #[arg(long = "all-restartable", conflicts_with_all = ["attach", "interactive"])]
    pub all_restartable: bool,
    #[arg(
        required_unless_present = "all_restartable",
        conflicts_with = "all_restartable"
    )]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    pub all: bool,
    /// Only display container IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Filter output based on conditions provided: id=, name=, label=KEY[=VALUE], status=, ancestor=, exited=, before=, since=, isolation=, health=
    #[arg(short, long = "filter", value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
    /// Format output using a custom template: 'table', 'table TEMPLATE', 'json', or a Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Show the latest created container (includes all states)
    #[arg(short = 'l', long)]
    pub latest: bool,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long, allow_hyphen_values = true)]
    pub last: Option<i64>,
    /// Display total file sizes
    #[arg(short, long)]
    pub size: bool,
}

#[derive(Debug, Args)]
pub struct TopArgs {
    pub container: String,
    /// Options for ps (default: -ef)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short, long)]
    pub follow: bool,
    /// Number of lines to show from the end of the logs (or "all")
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show timestamps
    #[arg(short, long)]
    pub timestamps: bool,
    /// Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)
    #[arg(long)]
    pub since: Option<String>,
    /// Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)
    #[arg(long)]
    pub until: Option<String>,
    /// Show extra details provided to logs
    #[arg(long)]
    pub details: bool,
    pub container: String,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Seconds to wait before killing the container (default: its --stop-timeout, else 10)
    #[arg(short = 't', long = "time", alias = "timeout")]
    pub time: Option<u64>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal to send to the container (a name like TERM or SIGTERM, or a number)
    #[arg(short, long, default_value = "KILL")]
    pub signal: String,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short, long)]
    pub force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short, long)]
    pub volumes: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ContainersArgs {
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a custom template: 'json', or a Go template
    #[arg(short, long)]
    pub format: Option<String>,
    /// Only inspect objects of the given type: container or image
    #[arg(long = "type")]
    pub kind: Option<String>,
    #[arg(required = true)]
    pub targets: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short, long)]
    pub detach: bool,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,
    /// Set environment variables
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    /// Working directory inside the container
    #[arg(short, long = "workdir")]
    pub workdir: Option<String>,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short, long)]
    pub user: Option<String>,
    pub container: String,
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Do not truncate ids
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Show all images (isola keeps no intermediate images: the same as without)
    #[arg(short, long)]
    pub all: bool,
    /// Filter output based on conditions provided: dangling=, reference=, label=, before=, since=
    #[arg(short, long = "filter", value_name = "KEY=VALUE")]
    pub filter: Vec<String>,
    /// Format output using a custom template: 'table', 'table TEMPLATE', 'json', or a Go template
    #[arg(long)]
    pub format: Option<String>,
    /// REPOSITORY[:TAG]: only images of this name
    pub reference: Option<String>,
}

#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Force removal of the image (untags images in use by containers)
    #[arg(short, long)]
    pub force: bool,
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct TagArgs {
    pub source: String,
    pub target: String,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR, HEALTHCHECK)
    #[arg(short, long = "change")]
    pub change: Vec<String>,
    /// Tarball (plain, gzip, zstd), directory, or - for stdin
    pub source: PathBuf,
    pub reference: String,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short, long)]
    pub input: Option<PathBuf>,
    /// Suppress the load output
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    #[arg(required = true)]
    pub images: Vec<String>,
}

/// `--restart`'s value.
fn parse_restart(s: &str) -> Result<isola_engine::RestartPolicy, String> {
    isola_engine::RestartPolicy::parse(s)
}

/// `--health-retries`: a count, 0 for Docker's default.
fn parse_retries(s: &str) -> Result<u32, String> {
    s.parse::<u32>()
        .map_err(|_| format!("the number of retries must be a whole number >= 0, not {s:?}"))
}

/// Go-style durations as Docker takes them: `30s`, `1m30s`, `500ms`.
fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(s).map_err(|e| {
        format!("invalid duration {s:?} ({e}): use a number and a unit, e.g. 30s, 1m30s, 500ms")
    })
}

#[derive(Debug, Args)]
pub struct MonitorArgs {
    #[arg(long = "ready-fd")]
    pub ready_fd: i32,
    #[arg(long = "attach-output")]
    pub attach_output: bool,
    #[arg(long = "attach-stdin")]
    pub attach_stdin: bool,
    pub id: String,
}

// --- issue 13's everyday verbs (branch `verbs`) ---

#[derive(Debug, Args)]
pub struct RenameArgs {
    pub container: String,
    pub new_name: String,
}

#[derive(Debug, Args)]
pub struct RestartArgs {
    /// Seconds to wait before killing the container
    #[arg(short = 't', long = "time", alias = "timeout")]
    pub time: Option<u64>,
    /// Signal to send to the container
    #[arg(short, long, value_parser = crate::units::signal_name)]
    pub signal: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Memory limit
    #[arg(short, long, value_parser = crate::units::parse_memory)]
    pub memory: Option<u64>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long = "memory-swap", value_parser = parse_memory_swap, allow_hyphen_values = true)]
    pub memory_swap: Option<i64>,
    /// Number of CPUs
    #[arg(long, value_parser = crate::units::parse_cpus)]
    pub cpus: Option<u64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<u64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits
    #[arg(long, value_parser = parse_restart)]
    pub restart: Option<isola_engine::RestartPolicy>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `--memory-swap`: a size, or -1 for unlimited.
fn parse_memory_swap(s: &str) -> Result<i64, String> {
    if s.trim() == "-1" {
        return Ok(-1);
    }
    crate::units::parse_memory(s)
        .map(|b| b as i64)
        .map_err(|e| e.to_string())
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    pub all: bool,
    /// Disable streaming stats and only pull the first result
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Format output using a custom template: 'table', 'table TEMPLATE', 'json' or a Go template
    #[arg(long)]
    pub format: Option<String>,
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Show all events created since timestamp
    #[arg(long)]
    pub since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long)]
    pub until: Option<String>,
    /// Filter output based on conditions provided
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// Format output using a custom template: 'json' or a Go template
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// Do not attach STDIN
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(long = "sig-proxy", default_value_t = true, action = ArgAction::Set)]
    pub sig_proxy: bool,
    pub container: String,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, default_value_t = true, action = ArgAction::Set)]
    pub human: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Format output using a custom template: 'table', 'table TEMPLATE', 'json' or a Go template
    #[arg(long)]
    pub format: Option<String>,
    pub image: String,
}

#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Show isola disk usage
    Df(DfArgs),
    /// Serve the Docker Engine API on a Unix socket (for the docker CLI, docker-compose, SDKs)
    Service(ServiceArgs),
    /// Remove unused data
    Prune(SystemPruneArgs),
}

#[derive(Debug, Args)]
pub struct DfArgs {
    /// Show detailed information on space usage
    #[arg(short, long)]
    pub verbose: bool,
    /// Format output using a custom template: 'table', 'table TEMPLATE', 'json' or a Go template
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct SystemPruneArgs {
    /// Remove all unused images not just dangling ones
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Prune anonymous volumes
    #[arg(long)]
    pub volumes: bool,
    /// Provide filter values (e.g. 'label=<key>=<value>')
    #[arg(long)]
    pub filter: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ContainerPruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Provide filter values (e.g. 'until=<timestamp>')
    #[arg(long)]
    pub filter: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ImagePruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Provide filter values (e.g. 'until=<timestamp>')
    #[arg(long)]
    pub filter: Vec<String>,
}
// --- end of issue 13's verbs ---

#[derive(Debug, Args)]
pub struct ServiceArgs {
    /// Exit after this many seconds without a client (0: serve until stopped)
    #[arg(
        short = 't',
        long = "timeout",
        value_name = "SECONDS",
        default_value_t = 0
    )]
    pub timeout: u64,
    /// Where to listen: unix:///path (TCP is refused: the API is root on this host)
    #[arg(value_name = "URI", default_value = "unix:///run/isola/isola.sock", value_parser = parse_service_uri)]
    pub uri: PathBuf,
}

/// `unix:///path` (or a bare absolute path); anything else, TCP above all,
/// is refused: whoever reaches the API is root on the host.
fn parse_service_uri(s: &str) -> Result<PathBuf, String> {
    let path = s.strip_prefix("unix://").unwrap_or(s);
    if path.starts_with('/') {
        Ok(PathBuf::from(path))
    } else {
        Err(format!(
            "{s:?} is not a unix socket URI: use unix:///path/to/isola.sock (the API is not served over TCP)"
        ))
    }
}
