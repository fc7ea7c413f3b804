//! A throw-away PostgreSQL for tests: [`fresh_database`] gives each test a database of its own, so
//! tests run in parallel.
//!
//! With `SWITCHBOARD_TEST_POSTGRES_URL` (a role that may `CREATE DATABASE`), its server is used, and
//! the databases made on it are dropped when the process ends (with `psql`, when it is installed).
//! Otherwise the first test of the process starts a cluster from the system's PostgreSQL binaries
//! (`initdb` and `pg_ctl`, from `PATH` or `/usr/lib/postgresql/<version>/bin`; when missing and running
//! as root, Debian's `postgresql` package is installed) in a temporary directory, on a free port of
//! 127.0.0.1. initdb refuses to run as root, so as root the server runs as the `postgres` user (created,
//! as `switchboard-pg`, when there is none).
//!
//! A static is never dropped, so the cleaning up is done by a watchdog: a small shell process that
//! reads a pipe only this process holds open. When this process ends in any way (passing, panicking,
//! killed) the kernel closes the pipe, and the watchdog stops the server and removes its directory
//! (or, on a given server, drops the databases whose names it was sent).

#![allow(dead_code)] // Each test binary uses what it needs.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};

/// The variable naming a server to use instead of starting one.
pub const URL_VARIABLE: &str = "SWITCHBOARD_TEST_POSTGRES_URL";

/// The user the server runs as when the tests run as root and there is no `postgres` user.
const FALLBACK_USER: &str = "switchboard-pg";

struct Server {
    /// Where new databases are created from (its own database is `postgres`).
    admin_url: url::Url,
    /// Kept open for the life of the process: its closing tells the watchdog to clean up. Each database
    /// made is written to it, a name a line.
    watchdog: Mutex<ChildStdin>,
}

static SERVER: OnceLock<Server> = OnceLock::new();

/// The URL of a new, empty database on the test server.
pub async fn fresh_database() -> String {
    let server = SERVER.get_or_init(Server::start);
    let name = format!("sb_test_{}", uuid::Uuid::now_v7().simple());
    let (client, connection) = tokio_postgres::connect(server.admin_url.as_str(), tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("the test PostgreSQL at {} answers: {e}", redacted(&server.admin_url)));
    let connection = tokio::spawn(connection);
    client.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("a test database is created");
    server.tell_watchdog(&name);
    drop(client);
    let _ = connection.await;
    let mut url = server.admin_url.clone();
    url.set_path(&name);
    url.to_string()
}

/// The URL without its password, for messages.
fn redacted(url: &url::Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_password(None);
    shown.to_string()
}

/// A cluster of its own for a test that stops and starts its database (the shared one is never
/// stopped): the same binaries, user and watchdog clean-up as the shared cluster, on a port and data
/// directory it keeps across [`Self::stop`] and [`Self::start`], with `synchronous_commit` on (as a
/// server has it by default), so that stopping it loses no commit it answered. The watchdog stops it and removes its
/// directory when the process ends; dropping it (thawed first) stops it at once.
pub struct DedicatedCluster {
    run: Runner,
    port: u16,
    /// Held for the watchdog: see the module docs.
    _watchdog: ChildStdin,
}

impl DedicatedCluster {
    /// initdb, then start; blocking (a few seconds): call it from the blocking pool.
    pub fn start_new() -> Self {
        let run = Runner::new();
        let watchdog = run.spawn_watchdog();
        run.give_dir_to_user();
        run.initdb();
        let port = free_port();
        run.start(port, true);
        Self { run, port, _watchdog: watchdog }
    }

    /// The URL of its `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server at once (`pg_ctl stop -m immediate`: connections are cut, as when the
    /// database's host goes away) and waits until it has stopped.
    pub fn stop(&self) {
        self.run.stop("immediate");
    }

    /// Freezes the server (SIGSTOP to the postmaster and its children): connections are accepted by the
    /// kernel but nothing answers, as with a database host that hangs.
    pub fn freeze(&self) {
        self.signal("STOP");
    }

    /// Lets a frozen server run again.
    pub fn thaw(&self) {
        self.signal("CONT");
    }

    /// Sends `signal` to the postmaster (the first line of `postmaster.pid`) and its children.
    fn signal(&self, signal: &str) {
        assert!(self.try_signal(signal), "kill -{signal} to the test's own PostgreSQL");
    }

    fn try_signal(&self, signal: &str) -> bool {
        let Ok(pid_file) = std::fs::read_to_string(self.run.data().join("postmaster.pid")) else { return false };
        let Some(postmaster) = pid_file.lines().next().map(|l| l.trim().to_owned()) else { return false };
        let Ok(children) = Command::new("ps").args(["-o", "pid=", "--ppid", &postmaster]).output() else {
            return false;
        };
        let mut pids = vec![postmaster];
        pids.extend(String::from_utf8_lossy(&children.stdout).split_whitespace().map(str::to_owned));
        Command::new("kill").arg(format!("-{signal}")).args(&pids).status().is_ok_and(|s| s.success())
    }

    /// Starts the server again, on the same port and data directory, and waits until it accepts
    /// connections.
    pub fn start(&self) {
        self.run.start(self.port, true);
    }
}

impl Drop for DedicatedCluster {
    fn drop(&mut self) {
        // A frozen server (a test that failed before it thawed it) could not stop.
        self.try_signal("CONT");
        let mut c = self.run.command("pg_ctl");
        c.arg("-D").arg(self.run.data()).args(["stop", "-m", "immediate"]);
        let _ = c.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).status();
    }
}

impl Server {
    /// Hands the watchdog a database to drop at the end.
    fn tell_watchdog(&self, database: &str) {
        let mut watchdog = self.watchdog.lock().unwrap_or_else(|p| p.into_inner());
        writeln!(watchdog, "{database}").expect("the watchdog listens");
    }

    fn start() -> Self {
        if let Ok(url) = std::env::var(URL_VARIABLE) {
            let admin_url = url::Url::parse(&url).unwrap_or_else(|e| panic!("{URL_VARIABLE} is not a URL: {e}"));
            // The URL goes by the environment, not the command line, which anyone may read.
            let drop_each = r#"for name in $names; do psql "$SB_TEST_ADMIN_URL" -qc "DROP DATABASE IF EXISTS $name WITH (FORCE)"; done"#;
            let watchdog = spawn_watchdog(drop_each, &[("SB_TEST_ADMIN_URL", url.as_str())]);
            return Self { admin_url, watchdog: Mutex::new(watchdog) };
        }
        let run = Runner::new();
        // Before anything can fail, so that whatever was made is cleaned up.
        let watchdog = run.spawn_watchdog();
        run.give_dir_to_user();
        let port = free_port();
        run.initdb();
        run.start(port, false);
        let admin_url = url::Url::parse(&format!("postgres://postgres@127.0.0.1:{port}/postgres")).expect("a URL");
        Self { admin_url, watchdog: Mutex::new(watchdog) }
    }
}

/// Runs the server's programs, as `user` when set.
struct Runner {
    bin: PathBuf,
    user: Option<String>,
    dir: PathBuf,
}

impl Runner {
    /// The system's binaries, the user to run them as, and a new temporary directory.
    fn new() -> Self {
        let bin = server_binaries();
        let user = if running_as_root() { Some(server_user()) } else { None };
        let dir = tempfile::Builder::new().prefix("switchboard-pg-").tempdir().expect("a temporary directory").keep();
        Self { bin, user, dir }
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        match &self.user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(program);
                c
            }
            None => Command::new(program),
        }
    }

    fn run(&self, what: &str, command: &mut Command) {
        let log = self.dir.join(format!("{what}.log"));
        let out = std::fs::File::create(&log).expect("a log file");
        let err = out.try_clone().expect("a log file");
        let status = command.stdin(Stdio::null()).stdout(out).stderr(err).status();
        match status {
            Ok(s) if s.success() => {}
            other => {
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                panic!("{what} failed ({other:?}) for the test PostgreSQL:\n{log}");
            }
        }
    }

    fn give_dir_to_user(&self) {
        if let Some(user) = &self.user {
            self.run("chown", Command::new("chown").arg(format!("{user}:")).arg(&self.dir));
        }
    }

    fn initdb(&self) {
        let data = self.data();
        let mut c = self.command("initdb");
        c.arg("-D").arg(&data).args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync"]);
        self.run("initdb", &mut c);
    }

    /// Starts the server on `port`. With `synchronous_commit`, a commit waits until its WAL is written
    /// (to the operating system: fsync stays off), so a server stopped at once (`-m immediate`) keeps
    /// every commit it answered; without, the last moment's commits may be lost then.
    fn start(&self, port: u16, synchronous_commit: bool) {
        // Durability against the machine crashing is not what these tests are about: no fsync makes
        // them faster.
        let synchronous_commit = if synchronous_commit { "on" } else { "off" };
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -k {} -c fsync=off -c synchronous_commit={synchronous_commit} \
             -c full_page_writes=off -c max_connections=300",
            self.dir.display()
        );
        let mut c = self.command("pg_ctl");
        c.arg("-D").arg(self.data()).arg("-l").arg(self.dir.join("server.log"));
        c.args(["-w", "-t", "60", "-o", &options, "start"]);
        self.run("pg_ctl start", &mut c);
    }

    /// `pg_ctl stop` with the given shutdown mode, waiting until the server has stopped.
    fn stop(&self, mode: &str) {
        let mut c = self.command("pg_ctl");
        c.arg("-D").arg(self.data()).args(["-w", "-t", "60", "stop", "-m", mode]);
        self.run("pg_ctl stop", &mut c);
    }

    /// A process that waits for this one to end, then stops the server and removes its directory.
    fn spawn_watchdog(&self) -> ChildStdin {
        let stop = self.command("pg_ctl");
        let mut stop_line: Vec<String> = vec![shell_quote(stop.get_program())];
        stop_line.extend(stop.get_args().map(shell_quote));
        let cleanup = format!(
            "{} -D {} stop -m immediate; rm -rf {}",
            stop_line.join(" "),
            shell_quote(self.data().as_os_str()),
            shell_quote(self.dir.as_os_str()),
        );
        spawn_watchdog(&cleanup, &[])
    }
}

/// A shell that collects the names written to its stdin (`$names`) until this process ends, then
/// runs `cleanup`.
// Never waited for: it outlives this process by design, and init reaps it.
#[allow(clippy::zombie_processes)]
fn spawn_watchdog(cleanup: &str, env: &[(&str, &str)]) -> ChildStdin {
    let script =
        format!("names=''; while read -r name; do names=\"$names $name\"; done; {{ {cleanup}; }} >/dev/null 2>&1");
    let mut watchdog = Command::new("sh");
    watchdog.args(["-c", &script]).envs(env.iter().copied());
    watchdog.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::null());
    // Its own process group: a ctrl-c to the tests does not stop it before it has cleaned up.
    std::os::unix::process::CommandExt::process_group(&mut watchdog, 0);
    let mut child = watchdog.spawn().expect("the test PostgreSQL's watchdog starts");
    child.stdin.take().expect("a piped stdin")
}

fn shell_quote(s: &std::ffi::OsStr) -> String {
    format!("'{}'", s.to_string_lossy().replace('\'', r"'\''"))
}

fn running_as_root() -> bool {
    let out = Command::new("id").arg("-u").output().expect("`id -u` runs");
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

/// The unprivileged user the server runs as, created when missing.
fn server_user() -> String {
    let exists = |user: &str| Command::new("id").arg(user).stdout(Stdio::null()).stderr(Stdio::null()).status();
    if exists("postgres").is_ok_and(|s| s.success()) {
        return "postgres".into();
    }
    if !exists(FALLBACK_USER).is_ok_and(|s| s.success()) {
        let status = Command::new("useradd")
            .args(["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", FALLBACK_USER])
            .status();
        assert!(status.is_ok_and(|s| s.success()), "could not create the user {FALLBACK_USER} to run PostgreSQL as");
    }
    FALLBACK_USER.into()
}

/// The directory holding `initdb` and `pg_ctl`, installing Debian's `postgresql` when root may.
fn server_binaries() -> PathBuf {
    if let Some(dir) = find_server_binaries() {
        return dir;
    }
    if running_as_root() {
        install_postgresql();
        if let Some(dir) = find_server_binaries() {
            return dir;
        }
    }
    panic!(
        "PostgreSQL's server programs (initdb, pg_ctl) were not found in PATH or /usr/lib/postgresql/*/bin: \
         install the Debian package `postgresql` (apt-get install postgresql), or set {URL_VARIABLE} to a \
         server where this user may CREATE DATABASE"
    );
}

fn find_server_binaries() -> Option<PathBuf> {
    let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    let path = std::env::var_os("PATH").unwrap_or_default();
    if let Some(dir) = std::env::split_paths(&path).find(|d| has_both(d)) {
        return Some(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, bin)| has_both(bin))
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn install_postgresql() {
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends", "postgresql"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !install() {
        // The package lists may be missing or stale.
        let _ = Command::new("apt-get").arg("update").stdin(Stdio::null()).status();
        assert!(install(), "apt-get install postgresql failed: install the Debian package `postgresql` by hand");
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("a bound address").port()
}
