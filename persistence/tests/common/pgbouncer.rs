//! A PgBouncer of the test's own (Debian's package; `.ci/run` installs it) in front of the
//! local PostgreSQL, in transaction pooling mode with ONE server connection per database and
//! user: every client's transactions take turns on the same server process, so a named
//! prepared statement or any other session state one client leaves behind is met by the next.
//! It sends start-up parameters it does not know back as errors (`extra_float_digits`), as a
//! default installation does.

use std::io::Write as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct PgBouncer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

fn binary() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([std::path::PathBuf::from("/usr/sbin")])
        .map(|d| d.join("pgbouncer"))
        .find(|p| p.is_file())
}

impl PgBouncer {
    /// Starts one in front of `upstream` (PostgreSQL, trust authentication) for `user`; `None`,
    /// after saying why, when the binary is missing and `CI` is unset.
    pub fn start(upstream: SocketAddr, user: &str) -> Option<PgBouncer> {
        let Some(bin) = binary() else {
            assert!(!in_ci(), "pgbouncer is not installed and CI is set: .ci/run must install it");
            let _ = std::io::stderr().write_all(b"skipped: pgbouncer is not installed\n");
            return None;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        // PgBouncer will not run as root; it then drops to `postgres`, who must read the files.
        let root = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").expect("proc")) == 0;
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let ini = dir.path().join("pgbouncer.ini");
        let users = dir.path().join("userlist.txt");
        std::fs::write(&users, format!("\"{user}\" \"\"\n")).expect("userlist");
        std::fs::write(
            &ini,
            format!(
                "[databases]\n* = host={} port={}\n\n[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\n\
                 unix_socket_dir =\nauth_type = trust\nauth_file = {}\npool_mode = transaction\n\
                 default_pool_size = 1\nmax_client_conn = 200\nserver_reset_query =\n",
                upstream.ip(),
                upstream.port(),
                users.display()
            ),
        )
        .expect("ini");
        {
            use std::os::unix::fs::PermissionsExt;
            for (p, mode) in [(dir.path(), 0o755), (ini.as_path(), 0o644), (users.as_path(), 0o644)] {
                std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
            }
        }
        let log = std::fs::File::create(dir.path().join("log")).expect("log");
        let mut cmd = Command::new(bin);
        if root {
            cmd.args(["-u", "postgres"]);
        }
        let child = cmd
            .arg(&ini)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn pgbouncer");
        let mut b = PgBouncer { child, port, dir };
        let t = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(st)) = b.child.try_wait() {
                panic!("pgbouncer exited ({st}):\n{}", b.log());
            }
            assert!(t.elapsed() < Duration::from_secs(20), "pgbouncer did not listen:\n{}", b.log());
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(b)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// What it logged (connections, refusals), for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
